-- name: current_code_map
-- The newest version of every (provider, channel, code).
select distinct on (provider, channel, code) provider, channel, code, is_verified
from verification_code_map
order by provider, channel, code, version desc

-- name: rederive_contacts
-- Re-derive every contact's flag from its codes under the current map.
with current_map as (
  select distinct on (provider, channel, code) provider, channel, code, is_verified
  from verification_code_map
  order by provider, channel, code, version desc
)
update lead_contacts c set
  verified = coalesce((
    select bool_or(m.is_verified) from current_map m
    where m.provider = c.provider and m.channel = c.channel and m.code = any(c.codes)
  ), false),
  updated_at = clock_timestamp()
where c.verified is distinct from coalesce((
    select bool_or(m.is_verified) from current_map m
    where m.provider = c.provider and m.channel = c.channel and m.code = any(c.codes)
  ), false)
returning c.lead_id

-- name: rederive_leads
-- A lead's flags follow its contacts. Only leads whose flags change are
-- written (and re-scored by the caller).
with flags as (
  select l.id,
    exists (select 1 from lead_contacts c
            where c.lead_id = l.id and c.channel = 'email' and c.verified) as email_ok,
    exists (select 1 from lead_contacts c
            where c.lead_id = l.id and c.channel = 'phone' and c.verified and not c.dnc) as phone_ok
  from leads l where l.id = any(%(lead_ids)s)
)
update leads l set email_verified = f.email_ok, phone_verified = f.phone_ok
from flags f
where f.id = l.id
  and (l.email_verified is distinct from f.email_ok or l.phone_verified is distinct from f.phone_ok)
returning l.id

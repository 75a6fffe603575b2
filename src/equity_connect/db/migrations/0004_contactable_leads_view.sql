-- Leads ready for the daily feed: a verified channel, not suppressed, not
-- yet in a campaign. Refreshed CONCURRENTLY at 05:30 PT, which needs the
-- unique index below.
--
-- A materialized view has no RLS, so it is readable by the pipeline roles
-- only; brokers read leads through the RLS-protected table.
create materialized view if not exists public.mv_contactable_leads as
select
  l.id as lead_id,
  l.lead_score,
  l.assigned_broker_id,
  l.property_state,
  l.property_zip,
  l.email_verified,
  l.phone_verified,
  l.created_at
from public.leads l
where l.campaign_status in ('new', 'queued')
  and l.added_to_campaign_at is null
  and (l.email_verified or l.phone_verified)
  and not exists (
    select 1 from public.suppressions s
    where (s.channel = 'email' and s.value_index = l.email_index)
       or (s.channel = 'phone' and s.value_index = l.phone_index)
  );

create unique index if not exists mv_contactable_leads_lead_id_key
  on public.mv_contactable_leads (lead_id);
create index if not exists mv_contactable_leads_score_idx
  on public.mv_contactable_leads (lead_score desc, lead_id);

revoke all on table public.mv_contactable_leads from anon, authenticated, public;
grant select on table public.mv_contactable_leads to service_role, pipeline_writer;

-- Hardening after review: what a broker may write, and opt-outs nobody but
-- the pipeline may undo.

-- A broker may create a lead for themself, but only its plain facts: the
-- status, consent, verification, identity keys and contact ciphertexts take
-- their defaults. (A broker-chosen MAK would let a later vendor row merge a
-- homeowner's contact details into the broker's row.)
revoke insert on table public.leads from authenticated;
grant insert (assigned_broker_id, owner_first_name, owner_last_name, property_address,
              property_unit, property_city, property_state, property_zip)
  on table public.leads to authenticated;

-- An opt-out (unsubscribed, do_not_contact, bounced) is final for brokers: a
-- broker's UPDATE cannot move a lead out of those statuses. The pipeline's
-- roles are not affected (a DLQ replay or an operator's correction).
create or replace function public.leads_keep_opt_out() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  if current_user = 'authenticated'
     and old.campaign_status in ('unsubscribed', 'do_not_contact', 'bounced')
     and new.campaign_status is distinct from old.campaign_status then
    raise exception 'this lead opted out; its status cannot be changed'
      using errcode = 'insufficient_privilege';
  end if;
  return new;
end
$$;
drop trigger if exists trg_leads_keep_opt_out on public.leads;
create trigger trg_leads_keep_opt_out before update of campaign_status on public.leads
  for each row execute function public.leads_keep_opt_out();

-- The one suppression set, as a yes/no a broker's export can ask: brokers
-- cannot read the suppression list itself (RLS), and only ever hold the
-- indexes of their own leads, so the answer reveals nothing else. SECURITY
-- DEFINER lives outside the exposed schema, with a pinned search_path.
revoke execute on function ec_internal.pipeline_only(text) from public;
create or replace function ec_internal.is_suppressed(p_email bytea, p_phone bytea)
  returns boolean
  language sql stable security definer
  set search_path = ''
as $$
  select exists (
    select 1 from public.suppressions s
    where (s.channel = 'email' and s.value_index = p_email)
       or (s.channel = 'phone' and s.value_index = p_phone)
  )
$$;
revoke all on function ec_internal.is_suppressed(bytea, bytea) from public;
grant usage on schema ec_internal to authenticated, service_role, pipeline_writer;
grant execute on function ec_internal.is_suppressed(bytea, bytea)
  to authenticated, service_role, pipeline_writer;

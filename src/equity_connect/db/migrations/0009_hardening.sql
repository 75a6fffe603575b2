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

-- May this lead be reached by phone (a call, and under the TCPA a text)?
-- One definition, used by every query that decides it, so the rule cannot
-- drift between the outbound call, the inbound caller's consent token and
-- the text channel. Forbidden when: an opt-out or do-not-contact status; the
-- national DNC flag; the number in the suppression set for any reason; or
-- the e-mail there for an opt-out (an opt-out covers every channel, while a
-- bounced e-mail says nothing about the phone).
-- SECURITY INVOKER: it reads suppressions with the caller's own rights, so it
-- grants nothing its caller could not already read.
create or replace function ec_internal.phone_contact_forbidden(
  p_status public.campaign_status, p_dnc boolean, p_phone_index bytea, p_email_index bytea
) returns boolean
  language sql stable
  set search_path = ''
as $$
  select p_status in ('unsubscribed', 'do_not_contact')
      or coalesce(p_dnc, false)
      or exists (
        select 1 from public.suppressions s
        where (s.channel = 'phone' and s.value_index = p_phone_index)
           or (s.channel = 'email' and s.value_index = p_email_index
               and s.reason <> 'bounced')
      )
$$;
revoke all on function ec_internal.phone_contact_forbidden(
  public.campaign_status, boolean, bytea, bytea
) from public, anon, authenticated;
grant execute on function ec_internal.phone_contact_forbidden(
  public.campaign_status, boolean, bytea, bytea
) to service_role, pipeline_writer;

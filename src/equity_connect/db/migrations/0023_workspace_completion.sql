-- The workspace, finished (issue 15): the callable-now filter honours the
-- suppression set through a maintained flag, its count and the upload
-- filter's count are index-only, and ops users may write notes.

-- 1. leads.contact_suppressed: may this lead's phone not be used because its
--    number is in the suppression set (any reason), or its e-mail is there
--    for an opt-out (an opt-out on any channel covers every channel; a
--    bounce says nothing about the phone)? Exactly the suppression half of
--    ec_internal.phone_contact_forbidden (0015), kept on the row so a
--    broker's list can filter and count by it under RLS: brokers cannot read
--    the suppression set, and a per-row SECURITY DEFINER probe in the count
--    took the callable-now count over 1M leads to 0.9 s. It holds whichever
--    lead, or broker, the suppression came through: the set is keyed by
--    blind index, and so is the flag's upkeep.
--    Kept true by triggers: a lead written with new indexes asks the set, and
--    a suppression written, changed (re-indexed by `keys rotate`, a reason
--    raised) or removed re-judges the leads holding its value. Calls and
--    texts still decide with phone_contact_forbidden itself; the flag is the
--    lists' reading of the same rule.
alter table public.leads add column if not exists contact_suppressed boolean not null default false;

-- A lead written with new indexes asks the set. Inserts are judged per
-- statement, from the transition table: one hash join of the new rows with
-- the (small) suppression set, updating only the rows it hits, where a row
-- trigger's probe per lead added ~17 % to a 100,000-row insert. SECURITY
-- INVOKER: the pipeline roles read the set and update leads under their own
-- policy. A broker may insert a lead of their own but never its contact
-- columns (0009), so a broker's insert has no index to judge and returns
-- before the UPDATE (which a broker may not run).
create or replace function ec_internal.leads_inserted_contact_suppressed() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  if not exists (select 1 from inserted_leads n
                 where n.phone_index is not null or n.email_index is not null) then
    return null;
  end if;
  update public.leads l set contact_suppressed = true
  from (select n.id from inserted_leads n
        join public.suppressions s on s.channel = 'phone' and s.value_index = n.phone_index
        union
        select n.id from inserted_leads n
        join public.suppressions s
          on s.channel = 'email' and s.reason <> 'bounced' and s.value_index = n.email_index
       ) hit
  where l.id = hit.id and not l.contact_suppressed;
  return null;
end
$$;
revoke all on function ec_internal.leads_inserted_contact_suppressed()
  from public, anon, authenticated;

-- An update that changes an index, or the flag itself, is re-judged before the
-- row lands (so nobody sets the flag by hand; a broker has no UPDATE grant on
-- these columns anyway). SECURITY INVOKER: the set is reached only through
-- ec_internal.phone_suppressed (0022), one bit about indexes the row holds.
create or replace function ec_internal.leads_contact_suppressed() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  new.contact_suppressed := coalesce(
    ec_internal.phone_suppressed(new.phone_index, new.email_index), false);
  return new;
end
$$;
revoke all on function ec_internal.leads_contact_suppressed() from public, anon, authenticated;

drop trigger if exists trg_leads_contact_suppressed_insert on public.leads;
create trigger trg_leads_contact_suppressed_insert after insert on public.leads
  referencing new table as inserted_leads
  for each statement execute function ec_internal.leads_inserted_contact_suppressed();
-- A lead inserted with the flag already set is re-judged (it can only be
-- wrong by hand; the statement trigger above only ever sets it).
drop trigger if exists trg_leads_contact_suppressed_preset on public.leads;
create trigger trg_leads_contact_suppressed_preset before insert on public.leads
  for each row when (new.contact_suppressed)
  execute function ec_internal.leads_contact_suppressed();
drop trigger if exists trg_leads_contact_suppressed_update on public.leads;
create trigger trg_leads_contact_suppressed_update
  before update of phone_index, email_index, contact_suppressed on public.leads
  for each row
  when (old.phone_index is distinct from new.phone_index
        or old.email_index is distinct from new.email_index
        or old.contact_suppressed is distinct from new.contact_suppressed)
  execute function ec_internal.leads_contact_suppressed();

-- Re-judge the leads holding one suppressed value. The channel decides which
-- column can hold it (each channel's blind index has its own key), so each
-- branch is one probe of leads_phone_index_idx or leads_email_index_idx.
create or replace function ec_internal.rejudge_contact_suppressed(
  p_channel public.contact_channel, p_value_index bytea
) returns void
  language plpgsql
  set search_path = ''
as $$
begin
  if p_value_index is null then
    return;
  end if;
  if p_channel = 'phone' then
    update public.leads l
       set contact_suppressed = ec_internal.phone_suppressed(l.phone_index, l.email_index)
     where l.phone_index = p_value_index
       and l.contact_suppressed is distinct from
           coalesce(ec_internal.phone_suppressed(l.phone_index, l.email_index), false);
  else
    update public.leads l
       set contact_suppressed = ec_internal.phone_suppressed(l.phone_index, l.email_index)
     where l.email_index = p_value_index
       and l.contact_suppressed is distinct from
           coalesce(ec_internal.phone_suppressed(l.phone_index, l.email_index), false);
  end if;
end
$$;
revoke all on function ec_internal.rejudge_contact_suppressed(public.contact_channel, bytea)
  from public, anon, authenticated;
grant execute on function ec_internal.rejudge_contact_suppressed(public.contact_channel, bytea)
  to service_role, pipeline_writer;

-- SECURITY INVOKER: only the pipeline roles write suppressions (a broker's
-- do-not-contact goes through the pipeline), and they may update leads.
create or replace function ec_internal.suppressions_rejudge_leads() returns trigger
  language plpgsql
  set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    perform ec_internal.rejudge_contact_suppressed(old.channel, old.value_index);
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    perform ec_internal.rejudge_contact_suppressed(new.channel, new.value_index);
  end if;
  return null;
end
$$;
revoke all on function ec_internal.suppressions_rejudge_leads() from public, anon, authenticated;

drop trigger if exists trg_suppressions_rejudge_leads on public.suppressions;
create trigger trg_suppressions_rejudge_leads
  after insert or delete or update of channel, value_index, reason on public.suppressions
  for each row execute function ec_internal.suppressions_rejudge_leads();

-- The existing leads, joined from the (small) suppression set; idempotent:
-- only rows whose flag is wrong change (the update trigger re-judges each).
update public.leads l set contact_suppressed = true
from public.suppressions s
where s.channel = 'phone' and s.value_index = l.phone_index and not l.contact_suppressed;
update public.leads l set contact_suppressed = true
from public.suppressions s
where s.channel = 'email' and s.reason <> 'bounced' and s.value_index = l.email_index
  and not l.contact_suppressed;

-- The triggers see only committed rows, so a lead and a suppression of its
-- value committed concurrently each miss the other: transaction A inserts a
-- lead with number X (no suppression of X is visible to it), B suppresses X
-- (A's lead is not visible to it), both commit, and the flag stays false.
-- This reconcile repairs the flag both ways, and the worker runs it every
-- minute (jobs/commands.py); meanwhile calls and texts, each row's badge and
-- the lead page ask the set itself, so only the list filter can lag.
-- Set-based and cheap: the suppression set (small) joins leads through
-- leads_phone_index_idx / leads_email_index_idx, and clearing re-checks only
-- the flagged leads (leads_contact_suppressed_idx). One run at a time: two
-- workers updating the same rows in different orders could deadlock, and a
-- run skipped is made up a minute later. Returns the rows it changed.
create index if not exists leads_contact_suppressed_idx
  on public.leads (id) where contact_suppressed;

-- It runs on the worker's heartbeat path (jobs/commands.py reconcile_ticker):
-- waiting there for a lock on leads (a bulk ingest holds one for minutes)
-- would stall the heartbeat, let job leases lapse and have another worker
-- run the same jobs again. So it waits at most a second for any lock and
-- skips the run when it cannot have one; the next run makes it up.
create or replace function ec_internal.reconcile_contact_suppressed() returns integer
  language plpgsql
  set search_path = ''
  set lock_timeout = '1s'
as $$
declare
  flagged integer;
  cleared integer;
begin
  if not pg_try_advisory_xact_lock(hashtext('ec_internal.reconcile_contact_suppressed')) then
    return 0;
  end if;
  update public.leads l set contact_suppressed = true
  from (select p.id from public.suppressions s
        join public.leads p on p.phone_index = s.value_index
        where s.channel = 'phone' and not p.contact_suppressed
        union
        select e.id from public.suppressions s
        join public.leads e on e.email_index = s.value_index
        where s.channel = 'email' and s.reason <> 'bounced' and not e.contact_suppressed
       ) hit
  where l.id = hit.id and not l.contact_suppressed;
  get diagnostics flagged = row_count;
  -- The update trigger re-judges each row it writes, so a row whose
  -- suppression arrived meanwhile keeps its flag.
  update public.leads l set contact_suppressed = false
  where l.contact_suppressed
    and not coalesce(ec_internal.phone_suppressed(l.phone_index, l.email_index), false);
  get diagnostics cleared = row_count;
  return flagged + cleared;
exception when lock_not_available then
  return 0;
end
$$;
revoke all on function ec_internal.reconcile_contact_suppressed()
  from public, anon, authenticated;
grant execute on function ec_internal.reconcile_contact_suppressed()
  to service_role, pipeline_writer;

-- 2. The callable-now filter's count, index-only: the leads that may be
--    called at all (a phone, not on the DNC list, not suppressed, not opted
--    out) by state, then broker and consent (the list's other filter a
--    callable search is combined with). The list's page itself walks the
--    score index and stops at 50.
create index if not exists leads_callable_count_idx
  on public.leads (property_state, assigned_broker_id, consent)
  where phone_ciphertext is not null and not phone_dnc and not contact_suppressed
    and campaign_status not in ('unsubscribed', 'do_not_contact', 'bounced');

-- 3. Notes by ops. A note is a broker's (broker_id) or an ops user's
--    (ops_author: the ops key's name, as the dashboard knows the key), never
--    both or neither. A broker reads their own notes and ops notes on their
--    own leads (ops writing on a broker's lead is writing to that broker);
--    another broker's notes stay theirs. Brokers still insert only their own.
alter table public.lead_notes alter column broker_id drop not null;
alter table public.lead_notes add column if not exists ops_author text;
do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'lead_notes_author_check') then
    alter table public.lead_notes add constraint lead_notes_author_check
      check ((broker_id is null) <> (ops_author is null)
             and (ops_author is null or length(ops_author) between 1 and 200));
  end if;
end
$$;
drop policy if exists broker_notes_select on public.lead_notes;
create policy broker_notes_select on public.lead_notes
  for select to authenticated
  using ((broker_id = (select auth.uid()) or broker_id is null)
         and exists (select 1 from public.leads l
                     where l.id = lead_id and l.assigned_broker_id = (select auth.uid())));

-- 4. The lead page shows why its upload rows are one lead: a probabilistic
--    match's evidence (score, each field's level, which agreed and differed;
--    no PII: field names and levels) is readable by the lead's broker, as the
--    rest of the lineage row is (0020).
grant select (match_evidence) on table public.upload_rows to authenticated;

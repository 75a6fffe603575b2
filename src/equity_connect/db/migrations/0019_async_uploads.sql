-- Asynchronous uploads (issue 18, part 1). POST /v1/uploads now stores the
-- signed body and answers 202; a worker job (ingest.process_upload) does the
-- ingest. The API and the worker may run on different machines, so the body
-- waits in the database, encrypted, never in clear and never on one
-- machine's disk.

-- Progress, for GET /v1/uploads/{id}, the CLI and the dashboard. phase:
-- queued → reading → merging → completed | failed. heartbeat_at is renewed
-- while an upload is processed; a processing upload whose heartbeat went
-- stale belongs to a process that died (the sweeper marks it failed).
alter table public.uploads add column if not exists phase text not null default 'completed';
alter table public.uploads add column if not exists rows_read integer not null default 0;
alter table public.uploads add column if not exists rows_staged integer not null default 0;
alter table public.uploads add column if not exists bytes_read bigint not null default 0;
alter table public.uploads add column if not exists heartbeat_at timestamptz;
alter table public.uploads add column if not exists processed_by text;
do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'uploads_phase_check') then
    alter table public.uploads add constraint uploads_phase_check
      check (phase in ('queued', 'reading', 'merging', 'completed', 'failed'));
  end if;
  if not exists (select 1 from pg_constraint where conname = 'uploads_progress_check') then
    alter table public.uploads add constraint uploads_progress_check
      check (rows_read >= 0 and rows_staged >= 0 and bytes_read >= 0);
  end if;
end
$$;
-- Uploads ingested before this migration finished in one request: their
-- phase is their status's end.
update public.uploads set phase = 'failed' where status = 'failed' and phase = 'completed';

-- The same bytes are still one upload, unless that upload failed: then
-- re-sending them starts a fresh one (a died worker, a fixed limit). The
-- unique key becomes a partial unique index of the same name; claim_upload
-- names the same predicate.
alter table public.uploads drop constraint if exists uploads_sha256_key;
create unique index if not exists uploads_sha256_key on public.uploads (sha256)
  where status <> 'failed';
-- existing_report looks the latest upload of some bytes up, failed ones too.
create index if not exists uploads_sha256_idx on public.uploads (sha256, received_at desc);
-- The sweeper's scan: only uploads being processed.
create index if not exists uploads_processing_heartbeat_idx on public.uploads (heartbeat_at)
  where status = 'processing';

-- The waiting body: AES-256-GCM chunks (the PII envelope: a data key wrapped
-- by the active key-encryption key), each bound to its upload and position
-- as associated data, so a chunk moved, reordered or swapped between
-- uploads fails to decrypt. Deleted in the transaction that completes (or
-- fails) the upload. Pipeline only: no broker reads bodies. No foreign key
-- to uploads, as upload_rows (0011): a bare TRUNCATE of uploads must keep
-- working; the triggers below delete an upload's body with it instead.
create table if not exists public.upload_bodies (
  upload_id  uuid not null,
  seq        integer not null,
  ciphertext bytea not null,
  constraint upload_bodies_pkey primary key (upload_id, seq),
  constraint upload_bodies_seq_check check (seq >= 0)
);
select ec_internal.pipeline_only('upload_bodies');

create or replace function ec_internal.uploads_delete_bodies() returns trigger
  language plpgsql
  security definer  -- as a cascade would: as the owner, whoever deletes the upload
  set search_path = ''
as $$
begin
  delete from public.upload_bodies b using deleted_uploads d where b.upload_id = d.id;
  return null;
end
$$;
revoke execute on function ec_internal.uploads_delete_bodies() from public, anon, authenticated;
drop trigger if exists trg_uploads_delete_bodies on public.uploads;
create trigger trg_uploads_delete_bodies after delete on public.uploads
  referencing old table as deleted_uploads
  for each statement execute function ec_internal.uploads_delete_bodies();

create or replace function ec_internal.uploads_truncate_bodies() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  truncate public.upload_bodies;
  return null;
end
$$;
revoke execute on function ec_internal.uploads_truncate_bodies() from public, anon, authenticated;
drop trigger if exists trg_uploads_truncate_bodies on public.uploads;
create trigger trg_uploads_truncate_bodies after truncate on public.uploads
  for each statement execute function ec_internal.uploads_truncate_bodies();

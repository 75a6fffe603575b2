-- Lineage rows lose their per-row foreign key to uploads. A foreign key is
-- a trigger that looks the upload up once per inserted row: a million
-- lookups of the same upload on a million-row file, about two seconds of
-- an ingest (bench/ingest.py). Only the ingest writes upload_rows, in the
-- transaction that created the upload, so the reference cannot dangle; the
-- cascade it gave (deleting an upload deletes its lineage) is kept by a
-- statement-level trigger on uploads instead.
alter table public.upload_rows drop constraint if exists upload_rows_upload_id_fkey;

create or replace function ec_internal.uploads_delete_lineage() returns trigger
  language plpgsql
  -- as the cascade did: it acts as the table owner, whoever deletes (and so
  -- lives outside the API-exposed public schema)
  security definer
  set search_path = ''
as $$
begin
  delete from public.upload_rows r using deleted_uploads d where r.upload_id = d.id;
  return null;
end
$$;

drop trigger if exists trg_uploads_delete_lineage on public.uploads;
create trigger trg_uploads_delete_lineage after delete on public.uploads
  referencing old table as deleted_uploads
  for each statement execute function ec_internal.uploads_delete_lineage();

-- TRUNCATE fires no row or statement DELETE triggers; the foreign key made
-- a bare TRUNCATE of uploads fail, this empties the lineage with it.
create or replace function ec_internal.uploads_truncate_lineage() returns trigger
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  truncate public.upload_rows;
  return null;
end
$$;

drop trigger if exists trg_uploads_truncate_lineage on public.uploads;
create trigger trg_uploads_truncate_lineage after truncate on public.uploads
  for each statement execute function ec_internal.uploads_truncate_lineage();

-- CSV ingest (issue 13, items 6 and 7).
--
-- 1. What the reader found out about a file, kept on its upload record so a
--    report read back later (a duplicate upload, `uploads list`, the ops API)
--    says the same as the first: the encoding it was read in (utf-8,
--    cp1252, utf-8 + cp1252, utf-16-le/-be), the delimiter (comma, tab,
--    semicolon, pipe) and the warnings (a header-only file, non-UTF-8 lines).
alter table public.uploads add column if not exists encoding text;
alter table public.uploads add column if not exists delimiter text;
alter table public.uploads add column if not exists warnings text[] not null default '{}';

-- 2. A vendor's unknown columns (notes, memo, ...) are free text, and free
--    text holds phone numbers and emails in every shape a filter can miss
--    ("Cell: 415.867.5309", "prefers x at y dot com"). They are no longer
--    kept in clear in leads.raw: the JSON of a lead's unknown columns is one
--    AES-256-GCM envelope ciphertext, with associated data bound to
--    leads.raw_extra.<lead id> (security/crypto.py), so it cannot be moved to
--    another lead. The staging table gets the same column (rows are
--    encrypted before COPY).
alter table public.leads add column if not exists raw_extra_ciphertext bytea;
alter table public.leads_staging add column if not exists raw_extra_ciphertext bytea;

-- Leads ingested before this migration still hold their unknown columns in
-- clear in leads.raw. SQL cannot encrypt them (the keys never reach the
-- database), so this migration leaves them in place and the application
-- moves them: `equity-connect uploads encrypt-extras` encrypts each lead's
-- clear raw into raw_extra_ciphertext and empties raw, in batches, and is
-- safe to re-run. New ingests never write raw.
comment on column public.leads.raw is
  'Legacy: unknown CSV columns in clear, from before 0013. Emptied by '
  '`equity-connect uploads encrypt-extras`; new ingests write raw_extra_ciphertext.';
comment on column public.leads.raw_extra_ciphertext is
  'The JSON of the lead''s unknown CSV columns (vendor free text), AES-256-GCM envelope, '
  'AAD leads.raw_extra.<id>.';

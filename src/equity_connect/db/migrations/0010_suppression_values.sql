-- Suppressed values, encrypted beside their blind index: the index alone
-- cannot be re-keyed, and a suppression must outlive its lead *and* a
-- rotation of the index key (an opted-out owner stays opted out).
alter table public.suppressions add column if not exists value_ciphertext bytea;

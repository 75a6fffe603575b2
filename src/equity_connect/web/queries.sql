-- name: api_key
select key_id, secret_hash, scopes from api_keys where key_id = %(key_id)s and revoked_at is null

-- name: touch_api_key
update api_keys set last_used_at = clock_timestamp() where key_id = %(key_id)s

-- name: create_api_key
insert into api_keys (key_id, name, secret_hash, scopes) values (%(key_id)s, %(name)s, %(hash)s, %(scopes)s)

-- name: revoke_api_key
update api_keys set revoked_at = clock_timestamp() where key_id = %(key_id)s and revoked_at is null

-- name: list_api_keys
select key_id, name, scopes, created_at, last_used_at, revoked_at from api_keys order by created_at

-- name: broker_name
-- The logged-in broker's name for the page header (as the broker: RLS shows their row only).
select name from brokers where id = %(id)s

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

-- name: audit
insert into audit_log (actor_role, actor_id, action, table_name, row_id, before, after, request_id)
values (%(actor_role)s, %(actor_id)s, %(action)s, %(table_name)s, %(row_id)s, %(before)s,
        %(after)s, %(request_id)s)

-- name: current_role_setting
-- The role a SET LOCAL ROLE put this transaction in ('none' when none).
select current_setting('role') as role

-- name: reset_local_role
select set_config('role', 'none', true)

-- name: set_local_role
select set_config('role', %(role)s, true)

-- name: broker_name
-- The logged-in broker's name for the page header (as the broker: RLS shows their row only).
select name from brokers where id = %(id)s

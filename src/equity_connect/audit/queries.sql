-- The audit log: one row per change or agent call, written in the caller's transaction.

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

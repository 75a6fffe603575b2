-- name: client_privilege_leaks
-- What anon and authenticated hold in our schemas that they must not, one
-- row per privilege, with the rule it breaks. `db migrate` ends with this
-- and fails unless it returns nothing. anon (the public API key) holds
-- nothing at all. authenticated (a broker) holds only privileges that RLS
-- guards: none on a sequence or on a relation without forced RLS (a
-- security_invoker view excepted), none that RLS ignores (TRUNCATE,
-- REFERENCES, TRIGGER), none on a table without a policy for that command
-- (except DELETE on leads: granted, as Supabase does, so that RLS alone
-- answers "nothing deleted"), none on a timestamp the database sets or on
-- the audit log, and EXECUTE on a SECURITY DEFINER function only outside
-- the API-exposed public schema and with a pinned search_path (as
-- ec_internal.is_suppressed). Neither is a member of another role.
with client(role, role_oid) as (
  select rolname, oid from pg_roles where rolname in ('anon', 'authenticated')
), ours(nsp_oid, nspname) as (
  select oid, nspname from pg_namespace where nspname in ('public', 'ec_internal')
), rel as (
  select c.oid, o.nspname || '.' || c.relname as name, c.relname, c.relkind,
         c.relrowsecurity and c.relforcerowsecurity as forced_rls,
         c.relkind = 'v' and coalesce('security_invoker=true' = any(c.reloptions), false)
           as invoker_view
  from pg_class c join ours o on o.nsp_oid = c.relnamespace
  where c.relkind in ('r', 'p', 'v', 'm', 'f')
), rel_priv as (
  select k.role, k.role_oid, r.*, p.priv
  from client k cross join rel r
  cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',
                          'TRIGGER']) as p(priv)
  where case when p.priv in ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
             then has_any_column_privilege(k.role_oid, r.oid, p.priv)
             else has_table_privilege(k.role_oid, r.oid, p.priv) end
), leaks(role, object, privilege, rule) as (
  select role, name, priv, 'anon holds nothing' from rel_priv where role = 'anon'
  union all
  select role, name, priv, 'RLS does not guard it'
  from rel_priv
  where role = 'authenticated'
    and (priv in ('TRUNCATE', 'REFERENCES', 'TRIGGER') or not (forced_rls or invoker_view))
  union all
  select rp.role, rp.name, rp.priv, 'no policy lets authenticated use it'
  from rel_priv rp
  where rp.role = 'authenticated' and rp.forced_rls
    and rp.priv in ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
    and not (rp.name = 'public.leads' and rp.priv = 'DELETE')
    and not exists (
      select 1 from pg_policy pol
      where pol.polrelid = rp.oid
        and (pol.polroles && array[rp.role_oid, 0::oid])
        and pol.polcmd in ('*', case rp.priv when 'SELECT' then 'r' when 'INSERT' then 'a'
                                             when 'UPDATE' then 'w' else 'd' end::"char")
    )
  union all
  select k.role, r.name || '.' || a.attname, p.priv, 'the database sets it'
  from client k cross join rel r
  join pg_attribute a on a.attrelid = r.oid and a.attnum > 0 and not a.attisdropped
  cross join unnest(array['INSERT', 'UPDATE']) as p(priv)
  where (r.name = 'public.audit_log'
         or a.attname in ('created_at', 'occurred_at', 'updated_at', 'applied_at'))
    and has_column_privilege(k.role_oid, r.oid, a.attnum, p.priv)
  union all
  select k.role, o.nspname || '.' || c.relname, p.priv, 'sequences are the pipeline''s'
  from client k cross join ours o
  join pg_class c on c.relnamespace = o.nsp_oid and c.relkind = 'S'
  cross join unnest(array['USAGE', 'SELECT', 'UPDATE']) as p(priv)
  where has_sequence_privilege(k.role_oid, c.oid, p.priv)
  union all
  select k.role, f.oid::regprocedure::text, 'EXECUTE',
         case when k.role = 'anon' then 'anon holds nothing'
              else 'a SECURITY DEFINER function must live in ec_internal with a pinned search_path'
         end
  from client k cross join ours o
  join pg_proc f on f.pronamespace = o.nsp_oid
  where has_function_privilege(k.role_oid, f.oid, 'EXECUTE')
    and case when k.role = 'anon'
             then f.prosecdef
                  or exists (select 1 from aclexplode(f.proacl) e where e.grantee = k.role_oid)
             else f.prosecdef
                  and (o.nspname = 'public'
                       or not exists (select 1 from unnest(f.proconfig) c
                                      where c like 'search\_path=%'))
        end
  union all
  select k.role, o.nspname, p.priv,
         case p.priv when 'CREATE' then 'clients create nothing' else 'anon holds nothing' end
  from client k cross join ours o
  cross join unnest(array['USAGE', 'CREATE']) as p(priv)
  where (p.priv = 'CREATE' and has_schema_privilege(k.role_oid, o.nsp_oid, 'CREATE'))
     or (k.role = 'anon' and exists (
           select 1 from pg_namespace n, aclexplode(n.nspacl) e
           where n.oid = o.nsp_oid and e.grantee = k.role_oid and e.privilege_type = p.priv))
  union all
  select k.role, m.roleid::regrole::text, 'MEMBER', 'a client role is nobody else'
  from client k join pg_auth_members m on m.member = k.role_oid
)
select role, object, privilege, rule from leaks order by role, object, privilege

-- id: rls_disabled_api_readable
-- severity: error
-- category: security
-- description: An API role (anon, authenticated) can SELECT a table whose row-level security is off: it reads every row.
-- remediation: Enable RLS with a policy file under policies/ and `dbops policies apply`, or REVOKE SELECT from the role.
with api_roles as (
    select
        r.oid,
        r.rolname
    from pg_roles as r
    where r.rolname = any(current_setting('dbops.api_roles')::text[])
)

select
    n.nspname || '.' || c.relname as object,
    'row-level security is off and '
    || string_agg(r.rolname, ', ' order by r.rolname) || ' can select it' as detail
from pg_class as c
inner join pg_namespace as n on c.relnamespace = n.oid
inner join api_roles as r on has_any_column_privilege(r.oid, c.oid, 'SELECT')
where
    c.relkind in ('r', 'p')
    and not c.relrowsecurity
    and n.nspname = any(current_setting('dbops.schemas')::text[])
group by n.nspname, c.relname
order by 1

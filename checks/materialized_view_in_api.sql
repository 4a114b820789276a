-- id: materialized_view_in_api
-- severity: error
-- category: security
-- description: An API role (anon, authenticated) can SELECT a materialized view; a materialized view has no row-level security, so the role reads every row it holds, whatever the policies of its source tables say.
-- remediation: REVOKE SELECT on the materialized view from the API roles, or move it to a schema they have no USAGE on and expose the rows through a security_invoker view or a function.
select
    n.nspname || '.' || c.relname as object,
    string_agg(r.rolname, ', ' order by r.rolname) || ' can select every row (materialized views have no RLS)'
        as detail
from pg_class as c
inner join pg_namespace as n on c.relnamespace = n.oid
inner join pg_roles as r
    on
        r.rolname = any(current_setting('dbops.api_roles')::text[])
        and has_any_column_privilege(r.oid, c.oid, 'SELECT')
        and has_schema_privilege(r.oid, n.oid, 'USAGE')
where c.relkind = 'm' and n.nspname = any(current_setting('dbops.schemas')::text[])
group by n.nspname, c.relname
order by 1

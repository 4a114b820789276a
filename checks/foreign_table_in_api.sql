-- id: foreign_table_in_api
-- severity: error
-- category: security
-- description: An API role (anon, authenticated) can SELECT a foreign table; foreign tables have no row-level security, so the role reads every row the remote side returns.
-- remediation: REVOKE SELECT on the foreign table from the API roles, or move it to a schema they have no USAGE on and expose the rows through a view or function that filters them.
select
    n.nspname || '.' || c.relname as object,
    string_agg(r.rolname, ', ' order by r.rolname) || ' can select every row (foreign tables have no RLS)'
        as detail
from pg_class as c
inner join pg_namespace as n on c.relnamespace = n.oid
inner join pg_roles as r
    on
        r.rolname = any(current_setting('dbops.api_roles')::text[])
        and has_any_column_privilege(r.oid, c.oid, 'SELECT')
        and has_schema_privilege(r.oid, n.oid, 'USAGE')
where c.relkind = 'f' and n.nspname = any(current_setting('dbops.schemas')::text[])
group by n.nspname, c.relname
order by 1

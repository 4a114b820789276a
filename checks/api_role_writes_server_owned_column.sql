-- id: api_role_writes_server_owned_column
-- severity: error
-- category: security
-- description: An API role (anon, authenticated) may INSERT or UPDATE a column the server owns (an id or a row timestamp), so a client can choose it: an id reused from an archive, a back-dated row.
-- remediation: REVOKE INSERT, UPDATE ON the table FROM the role and GRANT them per column, leaving the server-owned columns out (as migration 0016 does); list the server's columns in [tool.dbops.checks.params] server_owned_columns.
with api_roles as (
    select
        r.oid,
        r.rolname
    from pg_roles as r
    where r.rolname = any(current_setting('dbops.api_roles')::text[])
),

writable as (
    select
        n.nspname,
        c.relname,
        a.attname,
        r.rolname,
        p.privilege
    from pg_class as c
    inner join pg_namespace as n on c.relnamespace = n.oid
    inner join pg_attribute as a on c.oid = a.attrelid
    cross join api_roles as r
    cross join (values ('INSERT'), ('UPDATE')) as p (privilege)
    where
        c.relkind in ('r', 'p')
        and a.attnum > 0
        and not a.attisdropped
        and n.nspname = any(current_setting('dbops.schemas')::text[])
        and a.attname = any(current_setting('dbops.server_owned_columns')::text[])
        and has_schema_privilege(r.oid, n.oid, 'USAGE')
        and has_column_privilege(r.oid, c.oid, a.attnum, p.privilege)
)

select
    nspname || '.' || relname || '.' || attname as object,
    string_agg(rolname || ' may ' || lower(privilege), ', ' order by rolname, privilege)
    || ' it: the server owns this column' as detail
from writable
group by nspname, relname, attname
order by 1

-- id: rls_disabled
-- severity: warn
-- category: security
-- description: A table in an inspected schema has row-level security off, so any role granted access sees every row.
-- remediation: Add the table's file under policies/ and run `dbops policies apply` (or ALTER TABLE ... ENABLE ROW LEVEL SECURITY with its policies).
-- Tables an API role can read are reported by rls_disabled_api_readable (error) instead.
with api_roles as (
    select r.oid from pg_roles as r
    where r.rolname = any(current_setting('dbops.api_roles')::text[])
)

select
    n.nspname || '.' || c.relname as object,
    'row-level security is off' as detail
from pg_class as c
inner join pg_namespace as n on c.relnamespace = n.oid
where
    c.relkind in ('r', 'p')
    and not c.relispartition
    and not c.relrowsecurity
    and n.nspname = any(current_setting('dbops.schemas')::text[])
    and c.relname not in ('_yoyo_migration', '_yoyo_log', '_yoyo_version', 'yoyo_lock')
    and not exists (
        select 1 from pg_depend as d
        where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e'
    )
    and not exists (
        select 1 from api_roles as r
        where has_any_column_privilege(r.oid, c.oid, 'SELECT')
    )
order by 1

-- id: unsupported_reg_types
-- severity: warn
-- category: integrity
-- description: A column stores a reg* type that names objects by OID (regproc, regprocedure, regoper, regoperator, regconfig, regdictionary, regnamespace, regcollation); pg_upgrade cannot carry those OIDs over and refuses to upgrade the cluster.
-- remediation: Store the name as text (or regclass, regtype, regrole, which pg_upgrade supports) in a migration: add a text column, backfill it with ::text, drop the old column.
select
    n.nspname || '.' || c.relname || '.' || a.attname as object,
    'column of type ' || format_type(a.atttypid, a.atttypmod) || ' blocks pg_upgrade' as detail
from pg_attribute as a
inner join pg_class as c on a.attrelid = c.oid
inner join pg_namespace as n on c.relnamespace = n.oid
where
    c.relkind in ('r', 'p', 'm')
    and a.attnum > 0
    and not a.attisdropped
    and a.atttypid in (
        'regproc'::regtype, 'regprocedure'::regtype, 'regoper'::regtype, 'regoperator'::regtype,
        'regconfig'::regtype, 'regdictionary'::regtype, 'regnamespace'::regtype,
        'regcollation'::regtype
    )
    and n.nspname = any(current_setting('dbops.schemas')::text[])
order by 1

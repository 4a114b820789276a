-- id: table_without_primary_key
-- severity: warn
-- category: performance
-- description: A table has no primary key: rows cannot be addressed reliably, logical replication cannot replicate its updates and deletes, and duplicates go unnoticed.
-- remediation: Add a primary key (ALTER TABLE ... ADD PRIMARY KEY USING INDEX after CREATE UNIQUE INDEX CONCURRENTLY), in a migration.
select
    n.nspname || '.' || c.relname as object,
    'no primary key' as detail
from pg_class as c
inner join pg_namespace as n on c.relnamespace = n.oid
where
    c.relkind in ('r', 'p')
    and n.nspname = any(current_setting('dbops.schemas')::text[])
    and not exists (
        select 1 from pg_constraint as con
        where con.conrelid = c.oid and con.contype = 'p'
    )
    and not exists (
        select 1 from pg_depend as d
        where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e'
    )
order by 1

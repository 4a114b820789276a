-- id: table_never_analyzed
-- severity: info
-- category: performance
-- description: A table holds more than 8 pages of data but has no planner statistics: plans for it are guesses, and the bloat estimates (table_bloat, index_bloat) cannot cover it.
-- remediation: ANALYZE the table (autovacuum does it after enough changes; run it by hand after a bulk load or restore).
-- requires: read-tables
select
    n.nspname || '.' || c.relname as object,
    'has ' || pg_size_pretty(pg_relation_size(c.oid)) || ' of data and no statistics' as detail
from pg_class as c
inner join pg_namespace as n on c.relnamespace = n.oid
where
    c.relkind in ('r', 'm')
    and n.nspname = any(current_setting('dbops.schemas')::text[])
    and pg_relation_size(c.oid) > 8 * current_setting('block_size')::bigint
    and (
        c.reltuples < 0
        or not exists (
            select 1 from pg_stats as s
            where s.schemaname = n.nspname and s.tablename = c.relname
        )
    )
order by 1

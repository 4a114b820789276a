-- id: unused_index
-- severity: info
-- category: performance
-- description: An index has never been scanned since the statistics were last reset, though its table has been read at least dbops.unused_index_min_table_scans times; it costs every write and buys nothing.
-- remediation: Confirm on every server that reads this database (replicas keep their own statistics), then DROP INDEX CONCURRENTLY it in a non-transactional migration.
-- Unique indexes and indexes behind a constraint are never reported: they enforce a rule.
-- The table-scan floor keeps a fresh database, whose indexes have had no workload yet,
-- from reporting every index.
select
    s.schemaname || '.' || s.indexrelname as object,
    'never scanned; ' || s.schemaname || '.' || s.relname || ' read ' || coalesce(t.seq_scan, 0)
    + coalesce(t.idx_scan, 0) || ' times, index size ' || pg_size_pretty(pg_relation_size(s.indexrelid))
        as detail
from pg_stat_user_indexes as s
inner join pg_index as i on s.indexrelid = i.indexrelid
inner join pg_stat_user_tables as t on s.relid = t.relid
where
    s.idx_scan = 0
    and not i.indisunique
    and i.indisvalid
    and not exists (
        select 1 from pg_constraint as con
        where con.conindid = s.indexrelid
    )
    and coalesce(t.seq_scan, 0) + coalesce(t.idx_scan, 0)
    >= current_setting('dbops.unused_index_min_table_scans')::bigint
    and s.schemaname = any(current_setting('dbops.schemas')::text[])
order by 1

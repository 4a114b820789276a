-- id: index_invalid
-- severity: error
-- category: integrity
-- description: An index is invalid (a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY left it): it costs every write and serves no query. Indexes being built right now are not reported.
-- remediation: DROP INDEX CONCURRENTLY the index and create it again (rerun `dbops migrate` if a migration built it: it drops and rebuilds it).
-- A build in progress shows in pg_stat_progress_create_index. A role that may not see
-- another user's progress (pg_read_all_stats) gets NULL relids there, so for it such a build
-- is reported as invalid: a false alarm, never a missed invalid index.
select
    n.nspname || '.' || ic.relname as object,
    'invalid index on ' || n.nspname || '.' || c.relname || ': ' || pg_get_indexdef(i.indexrelid) as detail
from pg_index as i
inner join pg_class as ic on i.indexrelid = ic.oid
inner join pg_class as c on i.indrelid = c.oid
inner join pg_namespace as n on c.relnamespace = n.oid
where
    not i.indisvalid
    and n.nspname = any(current_setting('dbops.schemas')::text[])
    and not exists (
        select 1 from pg_stat_progress_create_index as p
        where p.index_relid = i.indexrelid or (p.index_relid is null and p.relid = i.indrelid)
    )
order by 1

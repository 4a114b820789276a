-- purpose: an index left invalid by a failed CREATE INDEX CONCURRENTLY and not being built now
select i.indexrelid::regclass::text as index_name
from pg_index as i
where
    i.indexrelid = to_regclass(%(name)s)
    and not i.indisvalid
    and not exists (
        select 1 from pg_stat_progress_create_index as p
        where p.index_relid = i.indexrelid
    )

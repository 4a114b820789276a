-- id: index_bloat
-- severity: warn
-- category: performance
-- description: A B-tree index is estimated to be much larger than its entries need: at least dbops.bloat_min_bytes (default 100 MB) and dbops.bloat_ratio (default 0.5) of it. An estimate from pg_stats; expression indexes and tables without statistics are not estimated.
-- remediation: REINDEX INDEX CONCURRENTLY the index.
-- requires: read-tables
with idx as (
    select
        i.indexrelid,
        i.indrelid,
        ic.relname as index_name,
        n.nspname,
        c.relname as table_name,
        ic.relpages::numeric as pages,
        ic.reltuples::numeric as tuples,
        coalesce((
            select substring(o from '^fillfactor=(\d+)$')::int
            from unnest(ic.reloptions) as o
            where o like 'fillfactor=%'
        ), 90) as fillfactor,
        string_to_array(i.indkey::text, ' ')::int2[] as cols,
        current_setting('block_size')::numeric as block_size
    from pg_index as i
    inner join pg_class as ic on i.indexrelid = ic.oid
    inner join pg_am as am on ic.relam = am.oid
    inner join pg_class as c on i.indrelid = c.oid
    inner join pg_namespace as n on c.relnamespace = n.oid
    where
        am.amname = 'btree'
        and i.indisvalid
        and ic.reltuples >= 0
        and ic.relpages > 1
        and n.nspname = any(current_setting('dbops.schemas')::text[])
),

width as (
    select
        idx.indexrelid,
        sum(s.avg_width) as data_width,
        count(s.avg_width) as with_stats,
        count(*) as ncols
    from idx
    cross join unnest(idx.cols) as k (attnum)
    left join pg_attribute as a on idx.indrelid = a.attrelid and k.attnum = a.attnum
    left join pg_stats as s
        on
            idx.nspname = s.schemaname and idx.table_name = s.tablename
            and a.attname = s.attname and not s.inherited
    group by idx.indexrelid
),

estimate as (
    select
        idx.*,
        -- leaf tuple: 8-byte header, data aligned to 8, a 4-byte line pointer; page has a
        -- 24-byte header and 16-byte special space; plus the metapage
        1 + ceil(
            idx.tuples * (8 + ceil(w.data_width / 8.0) * 8 + 4)
            / ((idx.block_size - 40) * idx.fillfactor / 100.0)
        ) as expected_pages
    from idx
    inner join width as w on idx.indexrelid = w.indexrelid
    where w.with_stats = w.ncols and not (0 = any(idx.cols))
)

select
    e.nspname || '.' || e.index_name as object,
    format(
        'about %s of %s (%s%%) is bloat by estimate: %s pages where %s would do',
        pg_size_pretty(((e.pages - e.expected_pages) * e.block_size)::bigint),
        pg_size_pretty((e.pages * e.block_size)::bigint),
        round(100 * (e.pages - e.expected_pages) / e.pages),
        e.pages, e.expected_pages
    ) as detail
from estimate as e
where
    (e.pages - e.expected_pages) * e.block_size >= current_setting('dbops.bloat_min_bytes')::numeric
    and (e.pages - e.expected_pages) / e.pages >= current_setting('dbops.bloat_ratio')::numeric
order by 1

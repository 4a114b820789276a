-- id: table_bloat
-- severity: warn
-- category: performance
-- description: A table is estimated to hold much more space than its live rows need (dead rows, past deletes): at least dbops.bloat_min_bytes (default 100 MB) and dbops.bloat_ratio (default 0.5) of it. An estimate from pg_stats: tables without statistics are reported by table_never_analyzed instead.
-- remediation: VACUUM (autovacuum settings) keeps it from growing; to give the space back use pg_repack or VACUUM FULL in a maintenance window.
-- requires: read-tables
with tbl as (
    select
        c.oid,
        n.nspname,
        c.relname,
        c.relpages::numeric as pages,
        c.reltuples::numeric as tuples,
        coalesce((
            select substring(o from '^fillfactor=(\d+)$')::int
            from unnest(c.reloptions) as o
            where o like 'fillfactor=%'
        ), 100) as fillfactor,
        current_setting('block_size')::numeric as block_size
    from pg_class as c
    inner join pg_namespace as n on c.relnamespace = n.oid
    where
        c.relkind in ('r', 'm')
        and c.reltuples >= 0
        and c.relpages > 0
        and n.nspname = any(current_setting('dbops.schemas')::text[])
),

width as (
    select
        s.schemaname,
        s.tablename,
        sum((1 - s.null_frac) * s.avg_width) as data_width,
        bool_or(s.null_frac > 0) as has_nulls,
        count(*) as ncols
    from pg_stats as s
    where s.schemaname = any(current_setting('dbops.schemas')::text[]) and not s.inherited
    group by s.schemaname, s.tablename
),

estimate as (
    select
        tbl.*,
        -- heap tuple: 23-byte header and null bitmap aligned to 8, data aligned to 8, a 4-byte line pointer
        ceil(tbl.tuples * (
            ceil((23 + case when w.has_nulls then ceil(w.ncols / 8.0) else 0 end) / 8.0) * 8
            + ceil(w.data_width / 8.0) * 8 + 4
        ) / ((tbl.block_size - 24) * tbl.fillfactor / 100.0)) as expected_pages
    from tbl
    inner join width as w on tbl.nspname = w.schemaname and tbl.relname = w.tablename
)

select
    e.nspname || '.' || e.relname as object,
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

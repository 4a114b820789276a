-- purpose: what `dbops check --deep` verifies, like pg_amcheck --schema for each inspected
-- schema: its tables and materialized views with their TOAST tables (kind 'heap'), and the
-- valid B-tree indexes of all of those (kind 'btree'). Other sessions' temp tables are skipped.
with tables as (
    select c.oid, c.reltoastrelid
    from pg_class as c
    inner join pg_namespace as n on c.relnamespace = n.oid
    where
        c.relkind in ('r', 'm')
        and c.relpersistence <> 't'
        and n.nspname = any(%(schemas)s)
),

heaps as (
    select tables.oid from tables
    union
    select tables.reltoastrelid from tables where tables.reltoastrelid <> 0
),

targets as (
    select 'heap' as kind, heaps.oid from heaps
    union all
    select 'btree', i.indexrelid
    from pg_index as i
    inner join heaps on i.indrelid = heaps.oid
    inner join pg_class as ic on i.indexrelid = ic.oid
    inner join pg_am as am on ic.relam = am.oid
    where am.amname = 'btree' and i.indisvalid and i.indisready
)

select t.kind, t.oid, n.nspname || '.' || c.relname as name, pg_relation_size(t.oid) as bytes
from targets as t
inner join pg_class as c on t.oid = c.oid
inner join pg_namespace as n on c.relnamespace = n.oid
order by 1, 3

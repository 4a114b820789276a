-- id: fk_without_index
-- severity: warn
-- category: performance
-- description: A foreign key has no index whose leading columns are its columns (in any order), so deleting or updating a referenced row scans the referencing table.
-- remediation: CREATE INDEX CONCURRENTLY on the foreign key's columns, in a non-transactional migration (`dbops new NAME --non-transactional`).
-- A composite index counts when its first N columns are the N columns of the key; partial
-- and invalid indexes do not.
with fk as (
    select
        con.oid,
        con.conname,
        con.conrelid,
        con.conkey,
        n.nspname,
        c.relname
    from pg_constraint as con
    inner join pg_class as c on con.conrelid = c.oid
    inner join pg_namespace as n on c.relnamespace = n.oid
    where con.contype = 'f' and n.nspname = any(current_setting('dbops.schemas')::text[])
)

select
    fk.nspname || '.' || fk.relname || '.' || fk.conname as object,
    'no index leads with (' || array_to_string(array(
        select a.attname from unnest(fk.conkey) with ordinality as k (attnum, ord)
        inner join pg_attribute as a on a.attrelid = fk.conrelid and a.attnum = k.attnum
        order by k.ord
    ), ', ') || '): ' || pg_get_constraintdef(fk.oid) as detail
from fk
where
    not exists (
        select 1
        from pg_index as i
        cross join lateral (select string_to_array(i.indkey::text, ' ')::int2[] as cols) as ix
        where
            i.indrelid = fk.conrelid
            and i.indisvalid
            and i.indpred is null
            and ix.cols[1:cardinality(fk.conkey)] @> fk.conkey
            and fk.conkey @> ix.cols[1:cardinality(fk.conkey)]
    )
order by 1

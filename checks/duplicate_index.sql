-- id: duplicate_index
-- severity: warn
-- category: performance
-- description: Two indexes of a table have the same definition (method, columns, operator classes, expressions, predicate); the redundant one costs every write and buys nothing.
-- remediation: DROP INDEX CONCURRENTLY the reported index (the other stays; a unique index or one backing a constraint is the one kept).
with ix as (
    select
        i.indexrelid,
        i.indrelid,
        i.indisunique,
        exists(
            select 1 from pg_constraint as con
            where con.conindid = i.indexrelid
        ) as backs_constraint,
        ic.relam,
        ic.relname,
        n.nspname,
        i.indkey::text || '|' || i.indclass::text || '|' || i.indcollation::text || '|'
        || i.indoption::text || '|' || coalesce(pg_get_expr(i.indexprs, i.indrelid), '') || '|'
        || coalesce(pg_get_expr(i.indpred, i.indrelid), '') as shape
    from pg_index as i
    inner join pg_class as ic on i.indexrelid = ic.oid
    inner join pg_namespace as n on ic.relnamespace = n.oid
    where n.nspname = any(current_setting('dbops.schemas')::text[]) and i.indisvalid
)

select
    a.nspname || '.' || a.relname as object,
    'same definition as ' || b.nspname || '.' || b.relname || ': ' || pg_get_indexdef(a.indexrelid) as detail
from ix as a
inner join ix as b
    on
        a.indrelid = b.indrelid
        and a.indexrelid <> b.indexrelid
        and a.relam = b.relam
        and a.shape = b.shape
where
    (not a.indisunique and b.indisunique)
    or (
        a.indisunique = b.indisunique
        and (
            (not a.backs_constraint and b.backs_constraint)
            or (a.backs_constraint = b.backs_constraint and a.indexrelid > b.indexrelid)
        )
    )
order by 1, 2

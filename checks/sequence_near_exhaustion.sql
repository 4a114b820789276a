-- id: sequence_near_exhaustion
-- severity: warn
-- category: performance
-- description: A sequence or identity column has used more than dbops.sequence_used_max (default 0.75) of its range; the range is the smaller of the sequence's and its column type's.
-- remediation: Widen the column to bigint (ALTER TABLE ... ALTER COLUMN ... TYPE bigint, then ALTER SEQUENCE ... AS bigint MAXVALUE ...) in a migration before it runs out.
-- requires: read-sequences
with seq as (
    select
        c.oid,
        n.nspname,
        c.relname,
        s.seqstart::numeric as start,
        s.seqincrement,
        s.seqmax::numeric as seqmax,
        s.seqmin::numeric as seqmin,
        s.seqcycle,
        pg_sequence_last_value(c.oid)::numeric as last_value,
        col.atttypid,
        col.column_name
    from pg_sequence as s
    inner join pg_class as c on s.seqrelid = c.oid
    inner join pg_namespace as n on c.relnamespace = n.oid
    left join lateral (
        select
            a.atttypid,
            tn.nspname || '.' || tc.relname || '.' || a.attname as column_name
        from pg_depend as d
        inner join pg_attribute as a on d.refobjid = a.attrelid and d.refobjsubid = a.attnum
        inner join pg_class as tc on a.attrelid = tc.oid
        inner join pg_namespace as tn on tc.relnamespace = tn.oid
        where
            d.classid = 'pg_class'::regclass and d.objid = c.oid
            and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i') and d.refobjsubid > 0
        limit 1
    ) as col on true
    where n.nspname = any(current_setting('dbops.schemas')::text[])
),

bounds as (
    select
        seq.*,
        least(seq.seqmax, case seq.atttypid
            when 'int2'::regtype then 32767
            when 'int4'::regtype then 2147483647 else seq.seqmax
        end) as hi,
        greatest(seq.seqmin, case seq.atttypid
            when 'int2'::regtype then -32768
            when 'int4'::regtype then -2147483648 else seq.seqmin
        end) as lo
    from seq
),

used as (
    select
        b.*,
        case
            when b.seqincrement > 0
                then (b.last_value - b.start) / nullif(b.hi - b.start, 0)
            else (b.start - b.last_value) / nullif(b.start - b.lo, 0)
        end as fraction
    from bounds as b
    where b.last_value is not null and not b.seqcycle
)

select
    u.nspname || '.' || u.relname as object,
    format(
        'used %s%% of its range: last value %s, limit %s%s',
        round(100 * u.fraction, 1), u.last_value, case when u.seqincrement > 0 then u.hi else u.lo end,
        coalesce(' (feeds ' || u.column_name || ' of type ' || format_type(u.atttypid, null) || ')', '')
    ) as detail
from used as u
where u.fraction >= current_setting('dbops.sequence_used_max')::numeric
order by 1

-- purpose: what a restore target already holds: user relations, schemas, extensions (empty = none)
select kind, name
from (
    select 'relation' as kind, n.nspname || '.' || c.relname as name
    from pg_class as c
    inner join pg_namespace as n on c.relnamespace = n.oid
    where n.nspname not in ('pg_catalog', 'information_schema')
      and n.nspname not like 'pg\_%'
    union all
    select 'schema', n.nspname
    from pg_namespace as n
    where n.nspname not in ('pg_catalog', 'information_schema', 'public')
      and n.nspname not like 'pg\_%'
    union all
    select 'extension', e.extname
    from pg_extension as e
    where e.extname <> 'plpgsql'
) as found
order by kind desc, name

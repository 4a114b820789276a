-- purpose: the columns of one table, in order (empty when the table does not exist)
select a.attname
from pg_catalog.pg_attribute as a
inner join pg_catalog.pg_class as c on a.attrelid = c.oid
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
where
    n.nspname = %(schema)s
    and c.relname = %(table)s
    and c.relkind in ('r', 'p')
    and a.attnum > 0
    and not a.attisdropped
order by a.attnum

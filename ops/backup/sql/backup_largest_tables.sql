-- purpose: the user tables holding the most data, largest first, with their bytes per row (the compression sample)
select n.nspname,
       c.relname,
       (pg_total_relation_size(c.oid) / greatest(c.reltuples, 1))::bigint as row_bytes
from pg_class as c
inner join pg_namespace as n on c.relnamespace = n.oid
where c.relkind = 'r'
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\_%'
  and not exists (
      select from pg_depend as d
      where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e'
  )
order by pg_total_relation_size(c.oid) desc, n.nspname, c.relname
limit 5

-- purpose: the tables whose rows pg_dump writes, by schema and name (their rows are counted in the manifest)
select n.nspname, c.relname
from pg_class as c
inner join pg_namespace as n on c.relnamespace = n.oid
where c.relkind = 'r'
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\_%'
  and not exists (
      select from pg_depend as d
      where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e'
  )
order by n.nspname, c.relname

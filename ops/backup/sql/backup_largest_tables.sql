-- purpose: the user tables holding the most data, largest first, with their bytes per row (the compression sample)
-- built on backup_tables.sql, the tables pg_dump writes, which tools.largest_tables_query puts in as t
select t.nspname,
       t.relname,
       (pg_total_relation_size(c.oid) / greatest(c.reltuples, 1))::bigint as row_bytes
from ({backup_tables}) as t
inner join pg_namespace as n on t.nspname = n.nspname
inner join pg_class as c on c.relnamespace = n.oid and c.relname = t.relname
order by pg_total_relation_size(c.oid) desc, t.nspname, t.relname
limit 5

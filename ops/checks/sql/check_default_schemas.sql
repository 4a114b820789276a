-- purpose: the schemas `dbops check` inspects by default: every schema but the system's,
-- temporary ones and dbops' own bookkeeping schema
select n.nspname
from pg_namespace as n
where
    n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast', 'dbops')
    and n.nspname not like 'pg\_temp\_%'
    and n.nspname not like 'pg\_toast\_temp\_%'
order by 1

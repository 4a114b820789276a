-- purpose: sessions holding a dbops job lock in the current database
select l.objid::int as family,
       a.pid,
       coalesce(a.application_name, '') as application_name,
       coalesce(host(a.client_addr), 'local socket') as client,
       a.backend_start as since,
       coalesce(a.state, '') as state
from pg_locks as l
inner join pg_stat_activity as a on l.pid = a.pid
where
    l.locktype = 'advisory'
    and l.granted
    and l.objsubid = 2
    and l.classid = %(namespace)s::oid
    and l.database = (select d.oid from pg_database as d where d.datname = current_database())
    and (%(family)s::int is null or l.objid = %(family)s::int::oid)
order by a.backend_start

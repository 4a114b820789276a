-- id: xid_age
-- severity: warn
-- category: performance
-- description: The database or a table has a transaction-ID (or multixact) age above dbops.xid_age_max (default 1000000000, about half the 2^31 wraparound limit): anti-wraparound vacuum is falling behind.
-- remediation: Find what holds back freezing (long transactions, abandoned replication slots, prepared transactions), then VACUUM (FREEZE) the oldest tables.
select
    'database ' || d.datname as object,
    format(
        'transaction-ID age %s, multixact age %s (threshold %s)',
        age(d.datfrozenxid), mxid_age(d.datminmxid), current_setting('dbops.xid_age_max')
    ) as detail
from pg_database as d
where
    d.datname = current_database()
    and greatest(age(d.datfrozenxid), mxid_age(d.datminmxid)) > current_setting('dbops.xid_age_max')::bigint

union all

select
    n.nspname || '.' || c.relname,
    format(
        'transaction-ID age %s, multixact age %s (threshold %s)',
        age(c.relfrozenxid), mxid_age(c.relminmxid), current_setting('dbops.xid_age_max')
    )
from pg_class as c
inner join pg_namespace as n on c.relnamespace = n.oid
where
    c.relkind in ('r', 'm')
    and n.nspname = any(current_setting('dbops.schemas')::text[])
    and greatest(age(c.relfrozenxid), mxid_age(c.relminmxid)) > current_setting('dbops.xid_age_max')::bigint
order by 1

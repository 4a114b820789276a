-- id: archive_policy_reads_live_table
-- severity: error
-- category: security
-- description: A row-level-security policy of an archive table reads a table outside the archive schema: whether an archived row is visible then depends on live rows, which later inserts can make match (an id freed by archiving, inserted again by another user).
-- remediation: Rewrite the policy to read archive tables only (the owner as archived, e.g. archive.study_sessions.user_id), in policies/archive.<table>.sql, then `dbops policies apply`.
select
    n.nspname || '.' || c.relname || '.' || pol.polname as object,
    'reads ' || string_agg(distinct rn.nspname || '.' || rc.relname, ', ') as detail
from pg_policy as pol
inner join pg_class as c on pol.polrelid = c.oid
inner join pg_namespace as n on c.relnamespace = n.oid
inner join pg_depend as d
    on
        d.classid = 'pg_policy'::regclass
        and pol.oid = d.objid
        and d.refclassid = 'pg_class'::regclass
inner join pg_class as rc on d.refobjid = rc.oid
inner join pg_namespace as rn on rc.relnamespace = rn.oid
where
    n.nspname = 'archive'
    and rn.nspname <> 'archive'
    and rc.oid <> c.oid
group by n.nspname, c.relname, pol.polname
order by 1

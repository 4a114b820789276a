-- id: rls_policy_without_rls
-- severity: error
-- category: security
-- description: A table has policies but row-level security is off, so none of its policies is enforced.
-- remediation: ALTER TABLE ... ENABLE ROW LEVEL SECURITY (its file under policies/ does it on `dbops policies apply`).
select
    n.nspname || '.' || c.relname as object,
    count(*) || ' polic' || case when count(*) = 1 then 'y is' else 'ies are' end
    || ' defined but not enforced: ' || string_agg(p.polname, ', ' order by p.polname) as detail
from pg_class as c
inner join pg_namespace as n on c.relnamespace = n.oid
inner join pg_policy as p on c.oid = p.polrelid
where
    not c.relrowsecurity
    and n.nspname = any(current_setting('dbops.schemas')::text[])
group by n.nspname, c.relname
order by 1

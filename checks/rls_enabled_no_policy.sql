-- id: rls_enabled_no_policy
-- severity: info
-- category: security
-- description: A table has row-level security on and no policy: only its owner and BYPASSRLS roles see any row.
-- remediation: If other roles should read it, add its policies under policies/; otherwise nothing to do.
select
    n.nspname || '.' || c.relname as object,
    'row-level security is on with no policy: every other role sees no row' as detail
from pg_class as c
inner join pg_namespace as n on c.relnamespace = n.oid
where
    c.relkind in ('r', 'p')
    and c.relrowsecurity
    and n.nspname = any(current_setting('dbops.schemas')::text[])
    and not exists (
        select 1 from pg_policy as p
        where p.polrelid = c.oid
    )
order by 1

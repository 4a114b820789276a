-- id: rls_insert_policy_without_check
-- severity: warn
-- category: security
-- description: A permissive INSERT policy has no WITH CHECK: which rows it admits is not stated (PostgreSQL 18 lets no row in through it, so inserts fail unless another policy admits them).
-- remediation: Add WITH CHECK stating which rows the role may insert, e.g. WITH CHECK (user_id = (select app.current_user_id())), in its file under policies/.
select
    n.nspname || '.' || c.relname || '.' || p.polname as object,
    'permissive FOR INSERT policy for ' || array_to_string(array(
        select case when r = 0 then 'public' else r::regrole::text end
        from unnest(p.polroles) as r
        order by 1
    ), ', ') || ' has no WITH CHECK' as detail
from pg_policy as p
inner join pg_class as c on p.polrelid = c.oid
inner join pg_namespace as n on c.relnamespace = n.oid
where
    p.polpermissive
    and p.polcmd = 'a'
    and p.polwithcheck is null
    and n.nspname = any(current_setting('dbops.schemas')::text[])
order by 1

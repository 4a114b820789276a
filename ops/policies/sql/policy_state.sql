-- purpose: the row-level-security state of the given tables ('schema.table'): RLS flags and
-- every policy, deparsed by the server. One row per policy, or one row with NULL policy
-- columns for a table without policies (or that does not exist).
select
    t.name as table_name,
    c.oid is not null as table_exists,
    coalesce(c.relrowsecurity, false) as rls_enabled,
    coalesce(c.relforcerowsecurity, false) as rls_forced,
    p.polname as policy_name,
    p.polcmd::text as command,
    p.polpermissive as permissive,
    array(
        select case when r.oid = 0 then 'public' else r.oid::regrole::text end
        from unnest(p.polroles) as r (oid)
        order by 1
    ) as roles,
    pg_get_expr(p.polqual, p.polrelid) as using_expr,
    pg_get_expr(p.polwithcheck, p.polrelid) as check_expr
from unnest(%(tables)s::text []) as t (name)
left join pg_class as c on c.oid = to_regclass(t.name)
left join pg_policy as p on c.oid = p.polrelid
order by t.name, p.polname

-- id: view_bypasses_rls
-- severity: error
-- category: security
-- description: An API role (anon, authenticated) can read a view that runs with its owner's rights (no security_invoker), so the row-level security of the tables under it does not apply to the caller.
-- remediation: ALTER VIEW ... SET (security_invoker = true), or REVOKE SELECT on the view from the API roles.
with api_roles as (
    select
        r.oid,
        r.rolname
    from pg_roles as r
    where r.rolname = any(current_setting('dbops.api_roles')::text[])
)

select
    n.nspname || '.' || c.relname as object,
    string_agg(r.rolname, ', ' order by r.rolname) || ' can select this view, which reads '
    || (
        select string_agg(distinct tn.nspname || '.' || t.relname, ', ')
        from pg_depend as d
        inner join pg_rewrite as rw on d.objid = rw.oid
        inner join pg_class as t on d.refobjid = t.oid
        inner join pg_namespace as tn on t.relnamespace = tn.oid
        where
            d.classid = 'pg_rewrite'::regclass and rw.ev_class = c.oid
            and d.refclassid = 'pg_class'::regclass and t.relrowsecurity and t.oid <> c.oid
    ) || ' with its owner''s rights' as detail
from pg_class as c
inner join pg_namespace as n on c.relnamespace = n.oid
inner join api_roles as r on has_any_column_privilege(r.oid, c.oid, 'SELECT')
where
    c.relkind in ('v', 'm')
    and n.nspname = any(current_setting('dbops.schemas')::text[])
    and not coalesce('security_invoker=true' = any(c.reloptions), false)
    and exists (
        select 1
        from pg_depend as d
        inner join pg_rewrite as rw on d.objid = rw.oid
        inner join pg_class as t on d.refobjid = t.oid
        where
            d.classid = 'pg_rewrite'::regclass and rw.ev_class = c.oid
            and d.refclassid = 'pg_class'::regclass and t.relrowsecurity and t.oid <> c.oid
    )
group by n.nspname, c.relname, c.oid
order by 1

-- id: rls_write_policy_ignores_row
-- severity: warn
-- category: security
-- description: A permissive write policy's predicate never looks at the row (its expression tree has no column reference), so a caller who passes it may change every row, not only its own.
-- remediation: Compare the row's owner column with the caller, e.g. user_id = (select app.current_user_id()), or scope the policy to a role that should write everything.
-- Constant predicates are left to rls_policy_always_true.
with pol as (
    select
        p.polrelid,
        p.polname,
        p.polcmd,
        p.polroles,
        n.nspname,
        c.relname,
        e.clause,
        e.tree,
        e.tree::text as tree_text
    from pg_policy as p
    inner join pg_class as c on p.polrelid = c.oid
    inner join pg_namespace as n on c.relnamespace = n.oid
    cross join lateral (values ('USING', p.polqual), ('WITH CHECK', p.polwithcheck)) as e (clause, tree)
    where
        p.polpermissive
        and p.polcmd in ('a', 'w', 'd', '*')
        and e.tree is not null
        and n.nspname = any(current_setting('dbops.schemas')::text[])
        and exists (
            select 1 from unnest(p.polroles) as r (roleid)
            left join pg_roles as pr on r.roleid = pr.oid
            where r.roleid = 0 or not (pr.rolbypassrls or pr.rolsuper)
        )
)

select
    pol.nspname || '.' || pol.relname || '.' || pol.polname as object,
    pol.clause || ' (' || pg_get_expr(pol.tree, pol.polrelid) || ') references no column of the row'
        as detail
from pol
where
    pol.tree_text not like '%{VAR %'
    and pol.tree_text ~ '\{(SUBLINK|PARAM|SQLVALUEFUNCTION|FUNCEXPR|OPEXPR)'
    and (
        pol.tree_text ~ '\{(SUBLINK|PARAM|SQLVALUEFUNCTION)'
        or exists (
            select 1
            from regexp_matches(pol.tree_text, ':(?:funcid|opfuncid) (\d+)', 'g') as m
            inner join pg_proc as pp on m[1]::oid = pp.oid
            where pp.provolatile <> 'i' or pp.oid >= 16384
        )
    )
order by 1, 2

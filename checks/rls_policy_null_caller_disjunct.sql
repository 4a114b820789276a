-- id: rls_policy_null_caller_disjunct
-- severity: error
-- category: security
-- description: A permissive policy has an OR arm that holds when the caller's id is NULL (such as app.current_user_id() is null), so a caller without claims, or with claims the function cannot read, passes it for every row.
-- remediation: Drop the "... is null" arm from the policy in its file under policies/; give anonymous callers their own policy, to role anon, stating what they may see.
-- Judged from the stored expression tree: a NULLTEST (IS NULL) that is a direct argument of
-- an OR, whose operand holds no column of the row and calls a function of the caller
-- (current_setting, or a non-built-in function that is not IMMUTABLE), directly or inside a
-- scalar subquery.
with expr as (
    select
        p.oid,
        p.polname,
        n.nspname,
        c.relname,
        e.clause,
        e.tree::text as tree_text
    from pg_policy as p
    inner join pg_class as c on p.polrelid = c.oid
    inner join pg_namespace as n on c.relnamespace = n.oid
    cross join lateral (values ('USING', p.polqual), ('WITH CHECK', p.polwithcheck)) as e (clause, tree)
    where
        p.polpermissive
        and e.tree is not null
        and n.nspname = any(current_setting('dbops.schemas')::text[])
),

token as (
    select
        x.oid,
        x.clause,
        t.ord,
        t.m[1] as tok,
        sum(length(t.m[1])) over w - length(t.m[1]) + 1 as pos,
        sum(case when t.m[1] like '{%' then 1 when t.m[1] = '}' then -1 else 0 end) over w as depth
    from expr as x
    cross join lateral regexp_matches(x.tree_text, '(\{[A-Z_]+|\}|[^{}]+)', 'g') with ordinality as t (m, ord)
    window w as (partition by x.oid, x.clause order by t.ord)
),

node as (
    select
        o.oid,
        o.clause,
        o.depth,
        substr(o.tok, 2) as kind,
        o.pos as first_pos,
        cl.pos as last_pos,
        substr(x.tree_text, o.pos::int, (cl.pos - o.pos + 1)::int) as subtree
    from token as o
    inner join expr as x on o.oid = x.oid and o.clause = x.clause
    cross join
        lateral (
            select k.pos from token as k
            where
                k.oid = o.oid
                and k.clause = o.clause
                and k.ord > o.ord
                and k.tok = '}'
                and k.depth = o.depth - 1
            order by k.ord
            limit 1
        ) as cl
    where o.tok like '{%'
),

null_arm as (
    select nt.*
    from node as nt
    inner join node as o
        on
            nt.oid = o.oid and nt.clause = o.clause and o.kind = 'BOOLEXPR'
            and o.subtree like '{BOOLEXPR :boolop or %'
            and nt.depth = o.depth + 1 and nt.first_pos > o.first_pos and nt.last_pos < o.last_pos
    where
        nt.kind = 'NULLTEST'
        and nt.subtree ~ ':nulltesttype 0 :argisrow \w+ :location -?\d+\}$'
        and nt.subtree not like '%{VAR %'
        and exists (
            select 1
            from regexp_matches(nt.subtree, ':funcid (\d+)', 'g') as m
            inner join pg_proc as f on m[1]::oid = f.oid
            where
                (f.pronamespace <> 'pg_catalog'::regnamespace and f.provolatile <> 'i')
                or (f.pronamespace = 'pg_catalog'::regnamespace and f.proname = 'current_setting')
        )
)

select
    x.nspname || '.' || x.relname || '.' || x.polname as object,
    string_agg(distinct x.clause, ' and ') || ' (' || string_agg(distinct pg_get_expr(
        case when x.clause = 'USING' then p.polqual else p.polwithcheck end, p.polrelid
    ), ' / ') || ') holds for every row when the caller''s id is NULL' as detail
from null_arm as a
inner join expr as x on a.oid = x.oid and a.clause = x.clause
inner join pg_policy as p on a.oid = p.oid
group by x.nspname, x.relname, x.polname
order by 1

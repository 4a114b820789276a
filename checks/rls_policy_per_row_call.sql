-- id: rls_policy_per_row_call
-- severity: warn
-- category: performance
-- description: A row-level-security policy calls a function of the caller (current_setting, or a non-built-in STABLE or VOLATILE function such as app.current_user_id()) outside a scalar subquery, so it runs once for every row instead of once per statement.
-- remediation: Wrap the call in a scalar subquery, e.g. user_id = (select app.current_user_id()), in the policy's file under policies/ (the planner then evaluates it once, as an InitPlan).
-- Judged from the stored expression tree (pg_policy.polqual / polwithcheck): a FUNCEXPR node
-- whose subtree holds no column reference (so it does not depend on the row) and that is
-- not inside a SUBLINK. Only the outermost such call is reported. Built-in functions other
-- than current_setting (now(), lower(), ...) are cheap and left alone.
with expr as (
    select
        p.oid,
        p.polrelid,
        p.polname,
        n.nspname,
        c.relname,
        e.clause,
        e.tree::text as tree_text
    from pg_policy as p
    inner join pg_class as c on p.polrelid = c.oid
    inner join pg_namespace as n on c.relnamespace = n.oid
    cross join lateral (values ('USING', p.polqual), ('WITH CHECK', p.polwithcheck)) as e (clause, tree)
    where e.tree is not null and n.nspname = any(current_setting('dbops.schemas')::text[])
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
        substr(o.tok, 2) as kind,
        o.pos as first_pos,
        cl.pos as last_pos
    from token as o
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

func_call as (
    select
        nd.*,
        substring(
            substr(x.tree_text, nd.first_pos::int, (nd.last_pos - nd.first_pos + 1)::int) from ':funcid (\d+)'
        )::oid as funcid,
        substr(x.tree_text, nd.first_pos::int, (nd.last_pos - nd.first_pos + 1)::int) as subtree
    from node as nd
    inner join expr as x on nd.oid = x.oid and nd.clause = x.clause
    where nd.kind = 'FUNCEXPR'
),

per_row as (
    select
        cl.*,
        f.oid::regprocedure::text as func
    from func_call as cl
    inner join pg_proc as f on cl.funcid = f.oid
    where
        cl.subtree not like '%{VAR %'
        and (
            (f.pronamespace <> 'pg_catalog'::regnamespace and f.provolatile <> 'i')
            or (f.pronamespace = 'pg_catalog'::regnamespace and f.proname = 'current_setting')
        )
        and not exists (
            select 1 from node as s
            where
                s.oid = cl.oid and s.clause = cl.clause and s.kind = 'SUBLINK'
                and s.first_pos < cl.first_pos and s.last_pos > cl.last_pos
        )
),

outermost as (
    select pr.*
    from per_row as pr
    where not exists (
        select 1 from per_row as o
        where
            o.oid = pr.oid and o.clause = pr.clause
            and o.first_pos < pr.first_pos and o.last_pos > pr.last_pos
    )
)

select
    x.nspname || '.' || x.relname || '.' || x.polname as object,
    string_agg(distinct o.clause || ' calls ' || o.func, ', ')
    || ' for every row: write (select ...) around the call' as detail
from outermost as o
inner join expr as x on o.oid = x.oid and o.clause = x.clause
group by x.nspname, x.relname, x.polname
order by 1

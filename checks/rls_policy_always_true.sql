-- id: rls_policy_always_true
-- severity: error
-- category: security
-- description: A permissive write policy (INSERT, UPDATE, DELETE or ALL) for a role subject to RLS has a predicate that does not depend on the row or the caller (such as true or 1 = 1), so that role may write every row.
-- remediation: Replace the policy with one whose USING / WITH CHECK compares the row's owner with the caller, e.g. user_id = (select app.current_user_id()), in its file under policies/.
-- Judged from the stored expression tree (pg_policy.polqual / polwithcheck), not its text:
-- a predicate is constant when its tree holds no column, subquery, parameter or session
-- value and calls only built-in immutable functions. A literal false or NULL (which admits
-- nothing) is not reported. A restrictive policy that looks at the row and covers the same
-- command and roles neutralises the finding.
with pol as (
    select
        p.oid,
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
),

shaped as (
    select
        pol.*,
        array(
            select distinct m[1] from regexp_matches(pol.tree_text, '\{([A-Z_]+)', 'g') as m
        ) as nodes,
        array(
            select m[1]::oid from regexp_matches(pol.tree_text, ':(?:funcid|opfuncid) (\d+)', 'g') as m
        ) as funcs,
        array(
            select m[1]::oid
            from regexp_matches(pol.tree_text, ':(?:consttype|resulttype|typeid) (\d+)', 'g') as m
        ) as types
    from pol
),

constant as (
    select s.*
    from shaped as s
    where
        s.nodes <@ array[
            'CONST', 'FUNCEXPR', 'OPEXPR', 'BOOLEXPR', 'NULLTEST', 'BOOLEANTEST', 'RELABELTYPE',
            'SCALARARRAYOPEXPR', 'CASEEXPR', 'CASEWHEN', 'COALESCEEXPR', 'DISTINCTEXPR',
            'NULLIFEXPR', 'ARRAYEXPR', 'MINMAXEXPR'
        ]
        and not exists (
            select 1 from unnest(s.funcs) as f (foid)
            left join pg_proc as pp on f.foid = pp.oid
            where f.foid >= 16384 or pp.oid is null or pp.provolatile <> 'i'
        )
        and not exists (
            select 1 from unnest(s.types) as t (toid)
            where t.toid >= 16384
        )
),

judged as (
    select
        k.*,
        k.tree_text ~ '^\{CONST :consttype 16 .*:constisnull false .*:constvalue 1 \[ 0 '
        or k.tree_text ~ '^\{CONST :consttype 16 .*:constisnull true ' as admits_nothing
    from constant as k
)

select
    v.nspname || '.' || v.relname || '.' || v.polname as object,
    'permissive FOR ' || case v.polcmd
        when 'a' then 'INSERT' when 'w' then 'UPDATE'
        when 'd' then 'DELETE' else 'ALL'
    end
    || ' policy for ' || array_to_string(array(
        select case when r = 0 then 'public' else r::regrole::text end
        from unnest(v.polroles) as r
        order by 1
    ), ', ')
    || ': ' || string_agg(
        v.clause || ' (' || pg_get_expr(v.tree, v.polrelid) || ')', ' and '
        order by v.clause
    )
    || ' does not depend on the row or the caller' as detail
from judged as v
where
    not v.admits_nothing
    and not exists (
        select 1 from pg_policy as rp
        where
            rp.polrelid = v.polrelid
            and not rp.polpermissive
            and (rp.polcmd = v.polcmd or rp.polcmd = '*')
            and (0 = any(rp.polroles) or v.polroles <@ rp.polroles)
            and (case
                when v.clause = 'USING' then rp.polqual
                else coalesce(rp.polwithcheck, rp.polqual)
            end)::text like '%{VAR %'
    )
group by v.nspname, v.relname, v.polname, v.polcmd, v.polroles
order by 1

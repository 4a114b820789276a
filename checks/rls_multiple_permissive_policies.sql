-- id: rls_multiple_permissive_policies
-- severity: warn
-- category: performance
-- description: More than one permissive policy applies to the same table, role and command; PostgreSQL evaluates every one of them for each row (OR'ed), so each extra policy costs every query of that role.
-- remediation: Merge them into one policy per command and role (OR the predicates in one USING / WITH CHECK) in the table's file under policies/, or make the ones that only narrow AS RESTRICTIVE.
-- A policy TO PUBLIC applies to every role; roles that bypass RLS are left out (no policy
-- applies to them).
with pol as (
    select
        p.polrelid,
        p.polname,
        p.polroles,
        n.nspname || '.' || c.relname as tbl,
        cmd.name as command
    from pg_policy as p
    inner join pg_class as c on p.polrelid = c.oid
    inner join pg_namespace as n on c.relnamespace = n.oid
    cross join
        lateral unnest(case p.polcmd
            when 'r' then array['SELECT'] when 'a' then array['INSERT']
            when 'w' then array['UPDATE'] when 'd' then array['DELETE']
            else array['SELECT', 'INSERT', 'UPDATE', 'DELETE']
        end) as cmd (name)
    where p.polpermissive and n.nspname = any(current_setting('dbops.schemas')::text[])
),

role_of as (
    select distinct
        pol.polrelid,
        pol.command,
        r.roleid
    from pol
    cross join lateral unnest(pol.polroles) as r (roleid)
    left join pg_roles as pr on r.roleid = pr.oid
    where r.roleid = 0 or not (pr.rolbypassrls or pr.rolsuper)
)

select
    pol.tbl || ':' || lower(ro.command) || ':'
    || case when ro.roleid = 0 then 'public' else ro.roleid::regrole::text end as object,
    count(*) || ' permissive ' || ro.command || ' policies apply to '
    || case when ro.roleid = 0 then 'public' else ro.roleid::regrole::text end || ': '
    || string_agg(pol.polname, ', ' order by pol.polname) as detail
from role_of as ro
inner join pol
    on
        ro.polrelid = pol.polrelid and ro.command = pol.command
        and (ro.roleid = any(pol.polroles) or 0 = any(pol.polroles))
group by pol.tbl, ro.command, ro.roleid
having count(*) > 1
order by 1

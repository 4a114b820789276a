-- id: security_definer_executable_by_anon
-- severity: warn
-- category: security
-- description: The anon role (no login, the public API caller) can execute a SECURITY DEFINER function, which runs with its owner's rights.
-- remediation: REVOKE EXECUTE ON FUNCTION ... FROM anon, PUBLIC unless anonymous callers need it; if they do (e.g. app.login), keep it narrow and waive the finding with its reason in [tool.dbops.checks.waivers].
select
    n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' as object,
    'anon can execute this SECURITY DEFINER function owned by ' || p.proowner::regrole::text as detail
from pg_proc as p
inner join pg_namespace as n on p.pronamespace = n.oid
inner join pg_roles as r on r.rolname = 'anon'
where
    p.prosecdef
    and has_function_privilege(r.oid, p.oid, 'EXECUTE')
    and has_schema_privilege(r.oid, n.oid, 'USAGE')
    and n.nspname = any(current_setting('dbops.schemas')::text[])
    and not exists (
        select 1 from pg_depend as d
        where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
    )
order by 1

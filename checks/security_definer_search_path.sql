-- id: security_definer_search_path
-- severity: error
-- category: security
-- description: A SECURITY DEFINER function has no pinned search_path, so a caller can put its own objects ahead of the ones the function means and run them with the owner's rights.
-- remediation: ALTER FUNCTION ... SET search_path = '' (and schema-qualify every name in its body), or pg_catalog, the schemas it needs.
select
    n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' as object,
    'SECURITY DEFINER owned by ' || p.proowner::regrole::text || ' without SET search_path' as detail
from pg_proc as p
inner join pg_namespace as n on p.pronamespace = n.oid
where
    p.prosecdef
    and n.nspname = any(current_setting('dbops.schemas')::text[])
    and not exists (
        select 1 from unnest(coalesce(p.proconfig, '{}'::text[])) as cfg (setting)
        where cfg.setting like 'search\_path=%'
    )
    and not exists (
        select 1 from pg_depend as d
        where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
    )
order by 1

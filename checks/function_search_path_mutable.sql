-- id: function_search_path_mutable
-- severity: warn
-- category: security
-- description: A function resolves names through the caller's search_path (no SET search_path), so what it calls can change with the caller's settings.
-- remediation: ALTER FUNCTION ... SET search_path = '' and schema-qualify the names in its body (SQL functions that are inlined may keep it unset on purpose).
select
    n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' as object,
    'no SET search_path' as detail
from pg_proc as p
inner join pg_namespace as n on p.pronamespace = n.oid
inner join pg_language as l on p.prolang = l.oid
where
    not p.prosecdef
    and p.prokind in ('f', 'p')
    and l.lanname in ('sql', 'plpgsql')
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

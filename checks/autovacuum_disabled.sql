-- id: autovacuum_disabled
-- severity: warn
-- category: performance
-- description: Autovacuum is off for a table (autovacuum_enabled = false on it or its TOAST table) or for the whole server; dead rows then pile up and nothing protects the table from transaction-ID wraparound but manual VACUUM.
-- remediation: ALTER TABLE ... RESET (autovacuum_enabled, toast.autovacuum_enabled), or set autovacuum = on in the server's configuration; tune autovacuum's thresholds instead of turning it off.
select
    'server' as object,
    'autovacuum = off in the server configuration' as detail
where not current_setting('autovacuum')::boolean
union all
select
    n.nspname || '.' || c.relname as object,
    concat_ws(
        ' and ',
        case when 'autovacuum_enabled=false' = any(c.reloptions) then 'autovacuum_enabled = false' end,
        case when 'autovacuum_enabled=false' = any(t.reloptions) then 'toast.autovacuum_enabled = false' end
    ) as detail
from pg_class as c
inner join pg_namespace as n on c.relnamespace = n.oid
left join pg_class as t on c.reltoastrelid = t.oid
where
    c.relkind in ('r', 'm', 'p')
    and ('autovacuum_enabled=false' = any(c.reloptions) or 'autovacuum_enabled=false' = any(t.reloptions))
    and n.nspname = any(current_setting('dbops.schemas')::text[])
order by 1

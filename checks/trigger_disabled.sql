-- id: trigger_disabled
-- severity: warn
-- category: integrity
-- description: A trigger is disabled; for a foreign key's internal trigger this means the foreign key is not enforced.
-- remediation: ALTER TABLE ... ENABLE TRIGGER ... (ENABLE TRIGGER ALL for foreign keys), then look for rows written meanwhile (the orphan_* checks).
select
    n.nspname || '.' || c.relname || '.' || t.tgname as object,
    case
        when t.tgisinternal
            then
                'internal trigger of constraint '
                || coalesce((
                    select con.conname from pg_constraint as con
                    where con.oid = t.tgconstraint
                ), '?')
        else 'trigger'
    end || ' is disabled' as detail
from pg_trigger as t
inner join pg_class as c on t.tgrelid = c.oid
inner join pg_namespace as n on c.relnamespace = n.oid
where
    t.tgenabled = 'D'
    and n.nspname = any(current_setting('dbops.schemas')::text[])
order by 1

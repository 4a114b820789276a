-- id: constraint_not_valid
-- severity: warn
-- category: integrity
-- description: A CHECK or foreign-key constraint is NOT VALID: rows written before it was added were never checked against it.
-- remediation: ALTER TABLE ... VALIDATE CONSTRAINT ... (takes SHARE UPDATE EXCLUSIVE, does not block reads or writes); repair offending rows first.
select
    n.nspname || '.' || c.relname || '.' || con.conname as object,
    case con.contype when 'f' then 'foreign key' when 'c' then 'check' else con.contype::text end
    || ' constraint is NOT VALID: ' || pg_get_constraintdef(con.oid) as detail
from pg_constraint as con
inner join pg_class as c on con.conrelid = c.oid
inner join pg_namespace as n on c.relnamespace = n.oid
where
    not con.convalidated
    and n.nspname = any(current_setting('dbops.schemas')::text[])
order by 1

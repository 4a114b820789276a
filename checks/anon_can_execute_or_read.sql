-- id: anon_can_execute_or_read
-- severity: error
-- category: security
-- description: The anon role (the unauthenticated API caller) can execute a function or read or write a table, view or sequence; anon should be able to do nothing by default.
-- remediation: REVOKE the privilege (and USAGE on the schema) from anon and PUBLIC (as migration 0017 does); name-based login belongs to the backend, as service_role.
with anon as (
    select r.oid from pg_roles as r
    where r.rolname = 'anon'
),

reachable as (
    select
        n.oid,
        n.nspname
    from pg_namespace as n
    cross join anon
    where
        n.nspname = any(current_setting('dbops.schemas')::text[])
        and has_schema_privilege(anon.oid, n.oid, 'USAGE')
)

select
    s.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' as object,
    'anon can execute this function' as detail
from pg_proc as p
inner join reachable as s on p.pronamespace = s.oid
cross join anon
where has_function_privilege(anon.oid, p.oid, 'EXECUTE')

union all

select
    s.nspname || '.' || c.relname as object,
    'anon can ' || array_to_string(array_remove(array[
        case when has_any_column_privilege(anon.oid, c.oid, 'SELECT') then 'select' end,
        case when has_any_column_privilege(anon.oid, c.oid, 'INSERT') then 'insert' end,
        case when has_any_column_privilege(anon.oid, c.oid, 'UPDATE') then 'update' end,
        case when has_table_privilege(anon.oid, c.oid, 'DELETE') then 'delete' end
    ], null), ', ') || ' it' as detail
from pg_class as c
inner join reachable as s on c.relnamespace = s.oid
cross join anon
where
    c.relkind in ('r', 'p', 'v', 'm', 'f')
    and (
        has_any_column_privilege(anon.oid, c.oid, 'SELECT')
        or has_any_column_privilege(anon.oid, c.oid, 'INSERT')
        or has_any_column_privilege(anon.oid, c.oid, 'UPDATE')
        or has_table_privilege(anon.oid, c.oid, 'DELETE')
    )

union all

select
    s.nspname || '.' || c.relname as object,
    'anon can use or read this sequence' as detail
from pg_class as c
inner join reachable as s on c.relnamespace = s.oid
cross join anon
where
    c.relkind = 'S'
    and (
        has_sequence_privilege(anon.oid, c.oid, 'USAGE')
        or has_sequence_privilege(anon.oid, c.oid, 'SELECT')
    )

order by 1

-- id: sensitive_columns_exposed
-- severity: error
-- category: security
-- description: An API role (anon, authenticated) can read a column whose name marks a secret (password, token, secret, api_key, ssn, credit card, ...; the pattern is dbops.sensitive_column_pattern) with no row-level security in the way: a table with RLS off, a view, a materialized view or a foreign table.
-- remediation: REVOKE SELECT on the column (or the relation) from the API roles, or enable RLS with an owner policy; keep secrets hashed, in a schema the API roles cannot reach.
-- A view is reported even when it is security_invoker: the column is still handed to the role.
select
    n.nspname || '.' || c.relname || '.' || a.attname as object,
    string_agg(r.rolname, ', ' order by r.rolname) || ' can select it ('
    || case c.relkind
        when 'v' then 'view' when 'm' then 'materialized view' when 'f' then 'foreign table'
        else 'row-level security is off'
    end || ')' as detail
from pg_attribute as a
inner join pg_class as c on a.attrelid = c.oid
inner join pg_namespace as n on c.relnamespace = n.oid
inner join pg_roles as r
    on
        r.rolname = any(current_setting('dbops.api_roles')::text[])
        and has_column_privilege(r.oid, c.oid, a.attnum, 'SELECT')
        and has_schema_privilege(r.oid, n.oid, 'USAGE')
where
    a.attnum > 0
    and not a.attisdropped
    and a.attname ~* current_setting('dbops.sensitive_column_pattern')
    and (c.relkind in ('v', 'm', 'f') or (c.relkind in ('r', 'p') and not c.relrowsecurity))
    and n.nspname = any(current_setting('dbops.schemas')::text[])
group by n.nspname, c.relname, a.attname, c.relkind
order by 1

-- purpose: what the checking role may see, so a check that cannot see everything is
-- reported unknown instead of passing: superuser, extensions, role memberships, and the
-- tables and sequences of the inspected schemas it cannot fully read (RLS counts as not).
with me as (
    select r.oid, r.rolsuper, r.rolbypassrls from pg_roles as r where r.rolname = current_user
),

rel as (
    select c.oid, c.relkind, c.relrowsecurity, c.relforcerowsecurity, c.relowner,
           n.nspname || '.' || c.relname as name
    from pg_class as c
    inner join pg_namespace as n on c.relnamespace = n.oid
    where c.relkind in ('r', 'p', 'm', 'S') and n.nspname = any(%(schemas)s)
)

select me.rolsuper as superuser,
       array(
           select e.extname || ':' || en.nspname
           from pg_extension as e inner join pg_namespace as en on e.extnamespace = en.oid
       ) as extensions,
       array(
           select r.rolname from pg_roles as r where pg_has_role(me.oid, r.oid, 'member')
       ) as roles,
       array(
           select rel.name from rel
           where
               rel.relkind <> 'S'
               and not (
                   has_table_privilege(rel.oid, 'SELECT')
                   and (
                       not rel.relrowsecurity or me.rolsuper or me.rolbypassrls
                       or (pg_has_role(me.oid, rel.relowner, 'usage') and not rel.relforcerowsecurity)
                   )
               )
           order by 1
       ) as unreadable_tables,
       array(
           select rel.name from rel
           where case when rel.relkind = 'S' then not has_sequence_privilege(rel.oid, 'SELECT, USAGE') end
           order by 1
       ) as unreadable_sequences
from me

-- purpose: the schema as rows (kind, identity, definition), for comparing two databases.
-- An ACL left NULL means the default privileges, so it is compared as acldefault(): a
-- grant followed by its revoke restores the same privileges, written out. ACLs are compared
-- owner-independently: the owner's entries (as grantee or grantor) read as OWNER, so a
-- database whose objects belong to app_owner matches a scratch build made by postgres.
-- Leaves out system schemas, dbops' and yoyo's bookkeeping, and extension members.
with nsp as (
    select n.oid, n.nspname, n.nspowner, n.nspacl
    from pg_namespace as n
    where
        n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast', 'dbops')
        and n.nspname not like 'pg\_temp\_%'
        and n.nspname not like 'pg\_toast\_temp\_%'
),

rel as (
    select c.oid, c.relname, c.relkind, nsp.nspname, c.relrowsecurity, c.relforcerowsecurity,
           c.relacl, c.relpersistence, c.relowner
    from pg_class as c
    inner join nsp on c.relnamespace = nsp.oid
    where
        c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
        and c.relname not in ('_yoyo_migration', '_yoyo_log', '_yoyo_version', 'yoyo_lock')
        and not exists (
            select 1 from pg_depend as d
            where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e'
        )
),

acl_source as (
    -- each object whose ACL the snapshot shows: (kind, object, column number, owner, ACL);
    -- a column's NULL ACL stays NULL (no grants of its own)
    select 'schema' as kind, nsp.oid as objid, 0 as subid, nsp.nspowner as owner,
           coalesce(nsp.nspacl, acldefault('n', nsp.nspowner)) as acl
    from nsp
    union all
    select 'relation', rel.oid, 0, rel.relowner, coalesce(rel.relacl, acldefault('r', rel.relowner))
    from rel
    union all
    select 'column', a.attrelid, a.attnum, rel.relowner, a.attacl
    from rel
    inner join pg_attribute as a on rel.oid = a.attrelid
    where a.attnum > 0 and not a.attisdropped
    union all
    select 'function', p.oid, 0, p.proowner, coalesce(p.proacl, acldefault('f', p.proowner))
    from pg_proc as p
    inner join nsp on p.pronamespace = nsp.oid
),

acl as (
    -- each ACL once, as its sorted grantee=privilege/grantor items
    select s.kind, s.objid, s.subid,
           (
               select coalesce(string_agg(item, ',' order by item), '')
               from (
                   select case x.grantee when s.owner then 'OWNER' when 0 then 'PUBLIC' else x.grantee::regrole::text end
                       || '=' || x.privilege_type || case when x.is_grantable then '*' else '' end
                       || '/' || case x.grantor when s.owner then 'OWNER' else x.grantor::regrole::text end as item
                   from aclexplode(s.acl) as x
               ) as items
           ) as rendered
    from acl_source as s
)

select 'schema' as kind,
       nsp.nspname as identity,
       acl.rendered as definition
from nsp
inner join acl on acl.kind = 'schema' and nsp.oid = acl.objid

union all

select 'extension', e.extname, e.extversion || ' in ' || e.extnamespace::regnamespace::text
from pg_extension as e

union all

select 'relation',
       rel.nspname || '.' || rel.relname,
       'kind=' || rel.relkind::text || ' rls=' || rel.relrowsecurity || ' force_rls='
       || rel.relforcerowsecurity || ' persistence=' || rel.relpersistence::text
       || ' acl=' || acl.rendered
from rel
inner join acl on acl.kind = 'relation' and rel.oid = acl.objid

union all

select 'column',
       rel.nspname || '.' || rel.relname || '.' || a.attname,
       'position=' || row_number() over (partition by rel.oid order by a.attnum)
       || ' type=' || format_type(a.atttypid, a.atttypmod)
       || ' not_null=' || a.attnotnull
       || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
       || ' identity=' || a.attidentity::text || ' generated=' || a.attgenerated::text
       || ' acl=' || acl.rendered
from rel
inner join pg_attribute as a on rel.oid = a.attrelid
inner join acl on acl.kind = 'column' and a.attrelid = acl.objid and a.attnum = acl.subid
left join pg_attrdef as ad on a.attrelid = ad.adrelid and a.attnum = ad.adnum
where a.attnum > 0 and not a.attisdropped

union all

select 'constraint',
       rel.nspname || '.' || rel.relname || '.' || con.conname,
       pg_get_constraintdef(con.oid) || ' validated=' || con.convalidated
from rel
inner join pg_constraint as con on rel.oid = con.conrelid

union all

select 'index',
       rel.nspname || '.' || ic.relname,
       pg_get_indexdef(i.indexrelid) || ' valid=' || i.indisvalid
from rel
inner join pg_index as i on rel.oid = i.indrelid
inner join pg_class as ic on i.indexrelid = ic.oid

union all

select 'policy',
       rel.nspname || '.' || rel.relname || '.' || p.polname,
       'cmd=' || p.polcmd::text || ' permissive=' || p.polpermissive
       || ' roles=' || array_to_string(array(
           select case when r = 0 then 'public' else r::regrole::text end
           from unnest(p.polroles) as r order by 1
       ), ',')
       || ' using=' || coalesce(pg_get_expr(p.polqual, p.polrelid), '')
       || ' check=' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
from rel
inner join pg_policy as p on rel.oid = p.polrelid

union all

select 'trigger',
       rel.nspname || '.' || rel.relname || '.' || t.tgname,
       pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
from rel
inner join pg_trigger as t on rel.oid = t.tgrelid
where not t.tgisinternal

union all

select 'view',
       rel.nspname || '.' || rel.relname,
       pg_get_viewdef(rel.oid)
from rel
where rel.relkind in ('v', 'm')

union all

select 'function',
       nsp.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       pg_get_functiondef(p.oid) || ' acl=' || acl.rendered
from pg_proc as p
inner join nsp on p.pronamespace = nsp.oid
inner join acl on acl.kind = 'function' and p.oid = acl.objid
where
    p.prokind in ('f', 'p', 'w')
    and not exists (
        select 1 from pg_depend as d
        where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
    )

union all

select 'type',
       nsp.nspname || '.' || t.typname,
       'typtype=' || t.typtype::text || ' labels=' || coalesce(array_to_string(array(
           select e.enumlabel from pg_enum as e where e.enumtypid = t.oid order by e.enumsortorder
       ), ','), '')
from pg_type as t
inner join nsp on t.typnamespace = nsp.oid
where
    t.typtype in ('e', 'd')
    and not exists (
        select 1 from pg_depend as d
        where d.classid = 'pg_type'::regclass and d.objid = t.oid and d.deptype = 'e'
    )

order by 1, 2

-- id: extension_in_public
-- severity: warn
-- category: security
-- description: An extension is installed in schema public, mixing its functions and types with the application's and widening what every role with USAGE on public can reach.
-- remediation: Install extensions in their own schema (CREATE SCHEMA extensions; ALTER EXTENSION ... SET SCHEMA extensions) where the extension supports it.
select
    e.extname as object,
    'extension ' || e.extname || ' ' || e.extversion || ' is installed in schema public' as detail
from pg_extension as e
inner join pg_namespace as n on e.extnamespace = n.oid
where n.nspname = 'public'
order by 1

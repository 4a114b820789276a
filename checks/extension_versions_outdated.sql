-- id: extension_versions_outdated
-- severity: warn
-- category: security
-- description: An installed extension is older than the version the server's packages provide; the fixes of the newer version (security ones included) are on disk but not in use.
-- remediation: ALTER EXTENSION name UPDATE in a migration (read the extension's release notes first; an update can take locks).
select
    e.extname as object,
    'installed ' || e.extversion || ', available ' || a.default_version as detail
from pg_extension as e
inner join pg_available_extensions as a on e.extname = a.name
where a.default_version is not null and e.extversion <> a.default_version
order by 1

-- purpose: what the expected schema of schema_drift depends on besides the migration files:
-- the server, the database and role that build it, the extension versions on offer.
select
    current_setting('server_version_num') as server_version_num,
    current_setting('port') as port,
    current_database() as database,
    current_user as role,
    (
        select string_agg(name || '=' || coalesce(default_version, ''), ',' order by name)
        from pg_available_extensions
    ) as extensions

-- The Supabase roles and the caller's id from the PostgREST claims.
-- Roles are cluster-wide: created only if missing, and the rollback leaves them (other
-- databases on the server may use them); it revokes what this migration granted here.
-- depends: 0008_access_indexes

do $$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'anon') then
        create role anon nologin;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
        create role authenticated nologin;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
        create role service_role nologin bypassrls;
    end if;
end
$$;

create schema app;

-- The users.id in the claims' "sub", or NULL when absent or not a uuid.
create function app.current_user_id() returns uuid
language sql stable
as $$
    select case
        when claims.sub ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
            then claims.sub::uuid
    end
    from (
        select nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub' as sub
    ) as claims
$$;

grant usage on schema public, app to anon, authenticated, service_role;
grant execute on function app.current_user_id() to anon, authenticated, service_role;
grant select, insert, update, delete
on users, study_sessions, topics, misconceptions, tutor_chats, quizzes
to authenticated, service_role;
grant select on plan_cache to authenticated;
grant select, insert, update, delete on plan_cache to service_role;

-- Name-based login (the seed's flow) without giving anon the users table: one
-- SECURITY DEFINER function with a pinned search_path that gets or creates the user
-- race-free (ON CONFLICT on the unique name) and returns only that user's id.
-- depends: 0010_archive_schema

create function app.login(user_name text) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
    clean_name text := btrim(user_name);
    user_id uuid;
begin
    if clean_name is null or clean_name = '' then
        raise exception 'login name must not be empty' using errcode = '22023';
    end if;
    if length(clean_name) > 200 then
        raise exception 'login name longer than 200 characters' using errcode = '22001';
    end if;
    insert into public.users (name) values (clean_name)
    on conflict (name) do nothing
    returning id into user_id;
    if user_id is null then
        select u.id into user_id from public.users as u where u.name = clean_name;
    end if;
    return user_id;
end
$$;

revoke execute on function app.login(text) from public;
grant execute on function app.login(text) to anon, authenticated, service_role;

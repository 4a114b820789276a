-- anon executes nothing and reads nothing: it loses its usage of the schemas public and
-- app (PUBLIC's usage of public goes too, so the functions there, pgvector's included, are
-- out of its reach) and its execute grants. Name-based login is the backend's job: it
-- calls app.login(name) as service_role, server-side; neither anon nor authenticated may
-- (anon could otherwise resolve any name to its user id, and create users without limit).
-- depends: 0016_server_owned_columns

revoke execute on function app.login(text) from anon, authenticated;
revoke execute on function app.current_user_id() from anon;
revoke usage on schema app from anon;
revoke usage on schema public from public, anon;

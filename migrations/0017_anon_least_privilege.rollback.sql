-- Each ACL is rebuilt in its former order (grants append), so the schema compares equal.
revoke usage on schema public from authenticated, service_role;
grant usage on schema public to public, anon, authenticated, service_role;
revoke usage on schema app from authenticated, service_role;
grant usage on schema app to anon, authenticated, service_role;
revoke execute on function app.current_user_id() from authenticated, service_role;
grant execute on function app.current_user_id() to anon, authenticated, service_role;
revoke execute on function app.login(text) from service_role;
grant execute on function app.login(text) to anon, authenticated, service_role;

-- public.users: an authenticated caller sees and edits only its own row (emails included).
-- Users are created through app.login(name) (SECURITY DEFINER, migration 0011), deleted
-- by system jobs as service_role (BYPASSRLS); anon has no grant at all.
-- The caller's id is `(select app.current_user_id())`: an InitPlan, read once per statement.

alter table public.users enable row level security;

create policy users_select_own on public.users
for select to authenticated
using (id = (select app.current_user_id()));

-- No separate WITH CHECK: PostgreSQL then checks the new row against USING, so a caller
-- cannot give its row another id (and a mutation test can change the one predicate).
create policy users_update_own on public.users
for update to authenticated
using (id = (select app.current_user_id()));

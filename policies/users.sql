-- public.users: an authenticated caller sees and edits only its own row (emails included).
-- Users are created through app.login(name) (SECURITY DEFINER, migration 0011), deleted
-- by system jobs as service_role (BYPASSRLS); anon has no grant at all.
-- The caller's id is `(select app.current_user_id())`: an InitPlan, read once per statement.

alter table public.users enable row level security;

create policy users_select_own on public.users
for select to authenticated
using (id = (select app.current_user_id()));

-- WITH CHECK: the row may not be given another id
create policy users_update_own on public.users
for update to authenticated
using (id = (select app.current_user_id()))
with check (id = (select app.current_user_id()));

-- public.study_sessions: an authenticated caller sees and changes only its own sessions.

alter table public.study_sessions enable row level security;

create policy study_sessions_select_own on public.study_sessions
for select to authenticated
using (user_id = (select app.current_user_id()));

create policy study_sessions_insert_own on public.study_sessions
for insert to authenticated
with check (user_id = (select app.current_user_id()));

-- WITH CHECK refuses moving a session to another user
create policy study_sessions_update_own on public.study_sessions
for update to authenticated
using (user_id = (select app.current_user_id()))
with check (user_id = (select app.current_user_id()));

create policy study_sessions_delete_own on public.study_sessions
for delete to authenticated
using (user_id = (select app.current_user_id()));

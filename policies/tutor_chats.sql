-- public.tutor_chats: chats whose user_id (text, no foreign key) is the caller's id.

alter table public.tutor_chats enable row level security;

create policy tutor_chats_select_own on public.tutor_chats
for select to authenticated
using (user_id = (select app.current_user_id()::text));

create policy tutor_chats_insert_own on public.tutor_chats
for insert to authenticated
with check (user_id = (select app.current_user_id()::text));

-- WITH CHECK refuses moving a row to another user
create policy tutor_chats_update_own on public.tutor_chats
for update to authenticated
using (user_id = (select app.current_user_id()::text))
with check (user_id = (select app.current_user_id()::text));

create policy tutor_chats_delete_own on public.tutor_chats
for delete to authenticated
using (user_id = (select app.current_user_id()::text));

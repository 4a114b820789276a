-- archive.tutor_chats: an authenticated caller reads its own archived rows; only service_role
-- (retention, BYPASSRLS) writes: authenticated has no write grant here.

alter table archive.tutor_chats enable row level security;

create policy archive_tutor_chats_select_own on archive.tutor_chats
for select to authenticated
using (user_id = (select app.current_user_id()::text));

-- archive.study_sessions: an authenticated caller reads its own archived rows; only service_role
-- (retention, BYPASSRLS) writes: authenticated has no write grant here.

alter table archive.study_sessions enable row level security;

create policy archive_study_sessions_select_own on archive.study_sessions
for select to authenticated
using (user_id = (select app.current_user_id()));

-- archive.misconceptions: an authenticated caller reads its own archived rows; only service_role
-- (retention, BYPASSRLS) writes: authenticated has no write grant here.

alter table archive.misconceptions enable row level security;

create policy archive_misconceptions_select_own on archive.misconceptions
for select to authenticated
using (user_id = (select app.current_user_id()));

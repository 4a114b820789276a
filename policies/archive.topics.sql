-- archive.topics: an authenticated caller reads archived topics of its own sessions, whether
-- the session is archived too or still live; only service_role (retention) writes.

alter table archive.topics enable row level security;

create policy archive_topics_select_own on archive.topics
for select to authenticated
using (
    session_id in (
        select s.id from archive.study_sessions as s
        where s.user_id = (select app.current_user_id())
        union all
        select s.id from public.study_sessions as s
        where s.user_id = (select app.current_user_id())
    )
);

-- archive.topics: an authenticated caller reads archived topics of its own sessions, whether
-- the session is archived too or still live; only service_role (retention) writes.

alter table archive.topics enable row level security;

create policy archive_topics_select_own on archive.topics
for select to authenticated
using (
    exists (
        select 1 from archive.study_sessions as s
        where s.id = topics.session_id and s.user_id = (select app.current_user_id())
    )
    or exists (
        select 1 from public.study_sessions as s
        where s.id = topics.session_id and s.user_id = (select app.current_user_id())
    )
);

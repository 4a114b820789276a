-- archive.topics: an authenticated caller reads the archived topics of its own archived
-- sessions; only service_role (retention) writes. A topic is archived with its session (one
-- unit), so the owner is the archived session's user_id at the time it was archived. The
-- predicate reads archive tables only: whatever happens later in the live tables (a session
-- id freed by archiving and inserted again) cannot make the row visible to anyone else.

alter table archive.topics enable row level security;

create policy archive_topics_select_own on archive.topics
for select to authenticated
using (
    exists (
        select 1 from archive.study_sessions as s
        where s.id = topics.session_id and s.user_id = (select app.current_user_id())
    )
);

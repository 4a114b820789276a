-- public.topics: the topics of the caller's own study sessions. EXISTS lets the planner
-- hash the caller's sessions once for a scan and probe the primary key per new row for a
-- WITH CHECK.

alter table public.topics enable row level security;

create policy topics_select_own on public.topics
for select to authenticated
using (
    exists (
        select 1 from public.study_sessions as s
        where s.id = topics.session_id and s.user_id = (select app.current_user_id())
    )
);

create policy topics_insert_own on public.topics
for insert to authenticated
with check (
    exists (
        select 1 from public.study_sessions as s
        where s.id = topics.session_id and s.user_id = (select app.current_user_id())
    )
);

-- WITH CHECK refuses moving a topic into another user's session
create policy topics_update_own on public.topics
for update to authenticated
using (
    exists (
        select 1 from public.study_sessions as s
        where s.id = topics.session_id and s.user_id = (select app.current_user_id())
    )
)
with check (
    exists (
        select 1 from public.study_sessions as s
        where s.id = topics.session_id and s.user_id = (select app.current_user_id())
    )
);

create policy topics_delete_own on public.topics
for delete to authenticated
using (
    exists (
        select 1 from public.study_sessions as s
        where s.id = topics.session_id and s.user_id = (select app.current_user_id())
    )
);

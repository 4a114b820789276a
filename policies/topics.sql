-- public.topics: the topics of the caller's own study sessions. The sessions are looked up
-- through an uncorrelated subquery (a hashed SubPlan, run once per statement), not per row.

alter table public.topics enable row level security;

create policy topics_select_own on public.topics
for select to authenticated
using (
    session_id in (
        select s.id from public.study_sessions as s
        where s.user_id = (select app.current_user_id())
    )
);

create policy topics_insert_own on public.topics
for insert to authenticated
with check (
    session_id in (
        select s.id from public.study_sessions as s
        where s.user_id = (select app.current_user_id())
    )
);

-- WITH CHECK refuses moving a topic into another user's session
create policy topics_update_own on public.topics
for update to authenticated
using (
    session_id in (
        select s.id from public.study_sessions as s
        where s.user_id = (select app.current_user_id())
    )
)
with check (
    session_id in (
        select s.id from public.study_sessions as s
        where s.user_id = (select app.current_user_id())
    )
);

create policy topics_delete_own on public.topics
for delete to authenticated
using (
    session_id in (
        select s.id from public.study_sessions as s
        where s.user_id = (select app.current_user_id())
    )
);

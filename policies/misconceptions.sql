-- public.misconceptions: the caller's own (user_id). A new or changed row must also point
-- at one of the caller's own topics (or none), so nobody attaches rows to another's topic.

alter table public.misconceptions enable row level security;

create policy misconceptions_select_own on public.misconceptions
for select to authenticated
using (user_id = (select app.current_user_id()));

create policy misconceptions_insert_own on public.misconceptions
for insert to authenticated
with check (
    user_id = (select app.current_user_id())
    and (
        topic_id is null
        or exists (
            select 1 from public.topics as t
            inner join public.study_sessions as s on t.session_id = s.id
            where t.id = misconceptions.topic_id and s.user_id = (select app.current_user_id())
        )
    )
);

-- WITH CHECK refuses moving a misconception to another user or onto another user's topic
create policy misconceptions_update_own on public.misconceptions
for update to authenticated
using (user_id = (select app.current_user_id()))
with check (
    user_id = (select app.current_user_id())
    and (
        topic_id is null
        or exists (
            select 1 from public.topics as t
            inner join public.study_sessions as s on t.session_id = s.id
            where t.id = misconceptions.topic_id and s.user_id = (select app.current_user_id())
        )
    )
);

create policy misconceptions_delete_own on public.misconceptions
for delete to authenticated
using (user_id = (select app.current_user_id()));

-- public.quizzes: quizzes whose user_id (text, no foreign key) is the caller's id.

alter table public.quizzes enable row level security;

create policy quizzes_select_own on public.quizzes
for select to authenticated
using (user_id = (select app.current_user_id()::text));

create policy quizzes_insert_own on public.quizzes
for insert to authenticated
with check (user_id = (select app.current_user_id()::text));

-- WITH CHECK refuses moving a row to another user
create policy quizzes_update_own on public.quizzes
for update to authenticated
using (user_id = (select app.current_user_id()::text))
with check (user_id = (select app.current_user_id()::text));

create policy quizzes_delete_own on public.quizzes
for delete to authenticated
using (user_id = (select app.current_user_id()::text));

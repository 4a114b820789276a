-- The seed's 003: name-based login (email optional, name unique) and RLS on users.
-- The seed also enabled RLS on tutor_chats and quizzes here, before 004 creates them,
-- which fails on a fresh database: those statements live in 0004.
-- depends: 0002_session_context

-- dbops: ignore ban-drop-not-null seed history: name-based login made email optional
alter table users alter column email drop not null;
-- dbops: ignore disallowed-unique-constraint seed history, on the seed's small users table
alter table users add column name text unique;

alter table users enable row level security;

create policy "Allow public select to users"
on users for select
using (true);

create policy "Allow public insert to users"
on users for insert
with check (true);

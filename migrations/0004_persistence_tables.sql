-- The seed's 004: tutor chats and quizzes, with the seed's (wide-open) RLS policies.
-- policies/ replaces those policies; they stay here as history.
-- depends: 0003_users_rls

create table tutor_chats (
    id uuid primary key default gen_random_uuid(),
    user_id text not null,
    topic_id text not null,
    messages jsonb default '[]'::jsonb,
    explanation text,
    last_updated timestamp with time zone default now(),
    unique (user_id, topic_id)
);

create table quizzes (
    id uuid primary key default gen_random_uuid(),
    user_id text not null,
    topic_id text not null,
    questions jsonb not null,
    created_at timestamp with time zone default now()
);

create index idx_tutor_chats_user_topic on tutor_chats (user_id, topic_id);
create index idx_quizzes_user_topic on quizzes (user_id, topic_id);
create index idx_quizzes_created_at on quizzes (created_at desc);

alter table tutor_chats enable row level security;
alter table quizzes enable row level security;

create policy "Allow all access to tutor_chats"
on tutor_chats for all
using (true)
with check (true);

create policy "Allow all access to quizzes"
on quizzes for all
using (true)
with check (true);

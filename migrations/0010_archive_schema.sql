-- archive.<table>: the source's columns plus archived_at, for retention's archival moves.
-- The primary key keeps a row from being archived twice. RLS is on from the start, so no
-- role but service_role (BYPASSRLS) reads an archive until policies/ says who may.
-- depends: 0009_roles

create schema archive;

create table archive.study_sessions (like public.study_sessions);
create table archive.topics (like public.topics);
create table archive.misconceptions (like public.misconceptions);
create table archive.tutor_chats (like public.tutor_chats);
create table archive.quizzes (like public.quizzes);

alter table archive.study_sessions
add column archived_at timestamptz not null default now(), add primary key (id);
alter table archive.topics
add column archived_at timestamptz not null default now(), add primary key (id);
alter table archive.misconceptions
add column archived_at timestamptz not null default now(), add primary key (id);
alter table archive.tutor_chats
add column archived_at timestamptz not null default now(), add primary key (id);
alter table archive.quizzes
add column archived_at timestamptz not null default now(), add primary key (id);

alter table archive.study_sessions enable row level security;
alter table archive.topics enable row level security;
alter table archive.misconceptions enable row level security;
alter table archive.tutor_chats enable row level security;
alter table archive.quizzes enable row level security;

grant usage on schema archive to authenticated, service_role;
grant select on all tables in schema archive to authenticated;
grant select, insert, update, delete on all tables in schema archive to service_role;

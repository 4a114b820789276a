-- Indexes on the archive tables' owner columns, which the row-level-security predicates of
-- policies/archive.*.sql filter on (the live tables' owner columns are indexed since 0001,
-- 0004 and 0008). `create table ... (like ...)` in 0010 copied no index. Built without
-- blocking writes, re-runnable.
-- transactional: false
-- depends: 0011_app_login

create index concurrently if not exists idx_archive_study_sessions_user_id
on archive.study_sessions (user_id);
create index concurrently if not exists idx_archive_topics_session_id on archive.topics (session_id);
create index concurrently if not exists idx_archive_misconceptions_user_id
on archive.misconceptions (user_id);
create index concurrently if not exists idx_archive_tutor_chats_user_id on archive.tutor_chats (user_id);
create index concurrently if not exists idx_archive_quizzes_user_id on archive.quizzes (user_id);

-- Indexes the retention rules walk, built without blocking writes:
--   tutor_chats rule: last_updated; sessions rule: study_sessions.created_at;
--   restore: archived_at of each rule's archive table, and the parent key of the archived
--   misconceptions (a session comes back with its children; 0012 indexes archived topics'
--   session_id already).
-- transactional: false
-- depends: 0012_archive_owner_indexes

create index concurrently if not exists idx_tutor_chats_last_updated on tutor_chats (last_updated);
create index concurrently if not exists idx_study_sessions_created_at on study_sessions (created_at);

create index concurrently if not exists idx_archive_quizzes_archived_at on archive.quizzes (archived_at);
create index concurrently if not exists idx_archive_tutor_chats_archived_at
on archive.tutor_chats (archived_at);
create index concurrently if not exists idx_archive_study_sessions_archived_at
on archive.study_sessions (archived_at);
create index concurrently if not exists idx_archive_misconceptions_topic_id
on archive.misconceptions (topic_id);

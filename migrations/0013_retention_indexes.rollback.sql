-- transactional: false

drop index concurrently if exists archive.idx_archive_misconceptions_topic_id;
drop index concurrently if exists archive.idx_archive_study_sessions_archived_at;
drop index concurrently if exists archive.idx_archive_tutor_chats_archived_at;
drop index concurrently if exists archive.idx_archive_quizzes_archived_at;

drop index concurrently if exists idx_study_sessions_created_at;
drop index concurrently if exists idx_tutor_chats_last_updated;

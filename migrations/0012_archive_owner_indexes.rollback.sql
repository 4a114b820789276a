-- transactional: false

drop index concurrently if exists archive.idx_archive_quizzes_user_id;
drop index concurrently if exists archive.idx_archive_tutor_chats_user_id;
drop index concurrently if exists archive.idx_archive_misconceptions_user_id;
drop index concurrently if exists archive.idx_archive_topics_session_id;
drop index concurrently if exists archive.idx_archive_study_sessions_user_id;

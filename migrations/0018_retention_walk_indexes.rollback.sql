-- transactional: false

create index concurrently if not exists idx_quizzes_created_at on quizzes (created_at desc);

drop index concurrently if exists idx_study_sessions_state_created_at;
drop index concurrently if exists idx_quizzes_created_at_id;

-- Indexes the retention rules that leave rows below their cutoff walk, built without
-- blocking writes. Such rows stay for good and pile up, and a batch must not step over
-- all of them:
--   quizzes rule (keeps the newest quiz of each user and topic): its batches examine a
--   bounded window of rows each, walking (created_at, id) from where the previous batch
--   stopped; this index serves that walk without a sort. It replaces the index on
--   created_at alone (its prefix: a backward scan serves created_at desc as before).
--   sessions rule (COMPLETED sessions only): (current_state, created_at) walks the
--   completed sessions alone, in order, past the sessions that never completed.
-- transactional: false
-- depends: 0017_anon_least_privilege

create index concurrently if not exists idx_quizzes_created_at_id on quizzes (created_at, id);
create index concurrently if not exists idx_study_sessions_state_created_at
on study_sessions (current_state, created_at);

-- a prefix of idx_quizzes_created_at_id
drop index concurrently if exists idx_quizzes_created_at;

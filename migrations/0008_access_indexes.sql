-- Indexes for the seed's access patterns, built without blocking writes:
--   latest quiz of a user and topic: (user_id, topic_id, created_at desc), no sort;
--   TTL eviction of plan_cache: expires_at;
--   the cascade from topics to misconceptions: topic_id.
-- Then indexes that only repeat another are dropped (the rollback recreates them).
-- transactional: false
-- depends: 0007_validation_enforce

create index concurrently if not exists idx_quizzes_user_topic_created
on quizzes (user_id, topic_id, created_at desc);
create index concurrently if not exists idx_plan_cache_expires_at on plan_cache (expires_at);
create index concurrently if not exists idx_misconceptions_topic_id on misconceptions (topic_id);

-- a prefix of idx_quizzes_user_topic_created
drop index concurrently if exists idx_quizzes_user_topic;
-- the same column as the index of the unique constraint plan_cache_cache_key_key
drop index concurrently if exists idx_plan_cache_key;
-- the same columns as the index of the unique constraint on tutor_chats (user_id, topic_id)
drop index concurrently if exists idx_tutor_chats_user_topic;

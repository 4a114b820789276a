-- transactional: false

create index concurrently if not exists idx_tutor_chats_user_topic
on tutor_chats (user_id, topic_id);
create index concurrently if not exists idx_plan_cache_key on plan_cache (cache_key);
create index concurrently if not exists idx_quizzes_user_topic on quizzes (user_id, topic_id);

drop index concurrently if exists idx_misconceptions_topic_id;
drop index concurrently if exists idx_plan_cache_expires_at;
drop index concurrently if exists idx_quizzes_user_topic_created;

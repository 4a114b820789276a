-- The newest quiz of a user and topic: idx_quizzes_user_topic_created, no sort.
select id, questions, created_at
from quizzes
where user_id = %(user_id)s and topic_id = %(topic_id)s
order by created_at desc
limit 1

-- A generated quiz of a user and topic (quizzes keep every attempt).
insert into quizzes (user_id, topic_id, questions)
values (%(user_id)s, %(topic_id)s, %(questions)s::jsonb)
returning id, created_at

-- The chat of a user and topic (unique (user_id, topic_id)).
select messages, explanation, last_updated
from tutor_chats
where user_id = %(user_id)s and topic_id = %(topic_id)s

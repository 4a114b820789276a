-- Replace (or create) the chat of a user and topic.
insert into tutor_chats (user_id, topic_id, messages, explanation)
values (%(user_id)s, %(topic_id)s, %(messages)s::jsonb, %(explanation)s)
on conflict (user_id, topic_id) do update
    set messages = excluded.messages, explanation = excluded.explanation, last_updated = now()
returning messages, explanation, last_updated

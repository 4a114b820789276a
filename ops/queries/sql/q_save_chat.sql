-- Replace (or create) the chat of a user and topic.
-- last_updated moves by the table's trigger (0016): a server-owned column.
insert into tutor_chats (user_id, topic_id, messages, explanation)
values (%(user_id)s, %(topic_id)s, %(messages)s::jsonb, %(explanation)s)
on conflict (user_id, topic_id) do update
    set messages = excluded.messages, explanation = excluded.explanation
returning messages, explanation, last_updated

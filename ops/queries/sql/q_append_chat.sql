-- Append messages to a chat atomically: the upsert locks the row and appends to the
-- latest committed history, so concurrent writers lose nothing.
-- last_updated moves by the table's trigger (0016): a server-owned column.
insert into tutor_chats (user_id, topic_id, messages, explanation)
values (%(user_id)s, %(topic_id)s, %(messages)s::jsonb, '')
on conflict (user_id, topic_id) do update
    set messages = tutor_chats.messages || excluded.messages
returning jsonb_array_length(messages)

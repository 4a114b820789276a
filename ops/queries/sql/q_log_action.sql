-- Append one agent action to the session's history in one statement (no read-modify-write).
-- updated_at moves by the table's trigger (0016): a server-owned column.
update study_sessions
set
    agent_history = array_append(
        agent_history,
        jsonb_build_object('action', %(action)s::text, 'payload', %(payload)s::jsonb, 'at', now())
    )
where id = %(session_id)s
returning cardinality(agent_history)

-- Move a session along one transition, only if it is still in the phase the caller read
-- (compare-and-set: a concurrent change makes this update no row instead of overwriting).
-- updated_at moves by the table's trigger (0016): a server-owned column.
update study_sessions
set
    current_state = %(next_phase)s,
    current_context = coalesce(%(context)s::jsonb, current_context),
    agent_history = array_append(
        agent_history,
        jsonb_build_object(
            'action', %(action)s::text, 'from', %(expected_phase)s::text, 'to', %(next_phase)s::text,
            'at', now()
        )
    )
where id = %(session_id)s and current_state = %(expected_phase)s
returning id, user_id, exam_type, current_state, current_context, updated_at

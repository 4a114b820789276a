-- A session's phase and context by id (primary key).
select
    id,
    user_id,
    exam_type,
    current_state,
    current_context,
    updated_at,
    case when %(with_history)s then agent_history end as agent_history
from study_sessions
where id = %(session_id)s

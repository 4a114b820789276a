-- id: current_state_not_a_phase
-- severity: error
-- category: integrity
-- description: A study session's current_state is not one of the state machine's phases (INTAKE, PLANNING, LEARNING, QUIZZING, ANALYZING, COMPLETED).
-- remediation: Set the session to the phase it is really in (ask the application owner) and make sure study_sessions_current_state_check is valid.
select
    'public.study_sessions:' || s.id as object,
    'current_state is ' || coalesce(quote_literal(s.current_state), 'NULL') || ', not a phase' as detail
from public.study_sessions as s
where
    s.current_state is null
    or s.current_state not in ('INTAKE', 'PLANNING', 'LEARNING', 'QUIZZING', 'ANALYZING', 'COMPLETED')
order by 1

drop table plan_cache;

alter table study_sessions
drop column agent_history,
drop column current_context;

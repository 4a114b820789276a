-- Drops the functions of 0018 (their grants go with them).
drop function app.q_put_cached_plan(text, jsonb, interval);
drop function app.q_get_cached_plan(text);
drop function app.q_save_quiz(text, text, jsonb);
drop function app.q_append_chat(text, text, jsonb);
drop function app.q_save_chat(text, text, jsonb, text);
drop function app.q_record_misconceptions(uuid, uuid, text[]);
drop function app.q_set_mastery(integer, text, uuid);
drop function app.q_add_topics(text[], uuid);
drop function app.q_lock_session(uuid);
drop function app.q_log_action(text, jsonb, uuid);
drop function app.q_save_session(text, jsonb, text, text, uuid);
drop function app.q_start_session(uuid, text, jsonb);
drop function app.q_progress(uuid);
drop function app.q_recent_misconceptions(uuid, integer);
drop function app.q_session_phase(uuid);
drop function app.q_load_session(boolean, uuid);
drop function app.q_get_chat(text, text);
drop function app.q_latest_quiz(text, text);

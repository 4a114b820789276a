revoke insert (user_id, topic_id, questions), update (user_id, topic_id, questions)
on quizzes from authenticated;
grant insert, update on quizzes to authenticated;
revoke insert (user_id, topic_id, messages, explanation), update (user_id, topic_id, messages, explanation)
on tutor_chats from authenticated;
grant insert, update on tutor_chats to authenticated;
revoke insert (user_id, topic_id, description), update (user_id, topic_id, description)
on misconceptions from authenticated;
grant insert, update on misconceptions to authenticated;
revoke insert (session_id, name, status, mastery_score), update (session_id, name, status, mastery_score)
on topics from authenticated;
grant insert, update on topics to authenticated;
revoke insert (user_id, exam_type, current_state, metadata, current_context, agent_history),
update (user_id, exam_type, current_state, metadata, current_context, agent_history)
on study_sessions from authenticated;
grant insert, update on study_sessions to authenticated;
revoke update (email, name) on users from authenticated;
grant insert, update, delete on users to authenticated;

drop trigger tutor_chats_touch_last_updated on tutor_chats;
drop trigger study_sessions_touch_updated_at on study_sessions;
drop trigger quizzes_id_not_archived_update on quizzes;
drop trigger quizzes_id_not_archived on quizzes;
drop trigger tutor_chats_id_not_archived_update on tutor_chats;
drop trigger tutor_chats_id_not_archived on tutor_chats;
drop trigger misconceptions_id_not_archived_update on misconceptions;
drop trigger misconceptions_id_not_archived on misconceptions;
drop trigger topics_id_not_archived_update on topics;
drop trigger topics_id_not_archived on topics;
drop trigger study_sessions_id_not_archived_update on study_sessions;
drop trigger study_sessions_id_not_archived on study_sessions;

drop function app.touch_last_updated();
drop function app.touch_updated_at();
drop function app.refuse_archived_id();

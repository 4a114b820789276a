revoke select, insert, update, delete on plan_cache from service_role;
revoke select on plan_cache from authenticated;
revoke select, insert, update, delete
on users, study_sessions, topics, misconceptions, tutor_chats, quizzes
from authenticated, service_role;
revoke execute on function app.current_user_id() from anon, authenticated, service_role;
revoke usage on schema public, app from anon, authenticated, service_role;

drop function app.current_user_id();
drop schema app;

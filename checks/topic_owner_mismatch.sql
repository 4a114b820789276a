-- id: topic_owner_mismatch
-- severity: error
-- category: integrity
-- description: A row about a topic belongs to another user than the session that topic is in (misconceptions, tutor_chats and quizzes whose topic is a topics.id of another user's session).
-- remediation: Find which user the row really belongs to; correct user_id or topic_id. Under RLS the session's owner cannot see these rows.
select
    'public.misconceptions:' || m.id as object,
    'user ' || m.user_id || ' but topic ' || t.id || ' is in session ' || s.id || ' of user ' || s.user_id
        as detail
from public.misconceptions as m
inner join public.topics as t on m.topic_id = t.id
inner join public.study_sessions as s on t.session_id = s.id
where m.user_id is distinct from s.user_id

union all

select
    'public.tutor_chats:' || c.id,
    'user ' || c.user_id || ' but topic ' || t.id || ' is in session ' || s.id || ' of user ' || s.user_id
from public.tutor_chats as c
inner join public.topics as t on c.topic_id = t.id::text
inner join public.study_sessions as s on t.session_id = s.id
where c.user_id is distinct from s.user_id::text

union all

select
    'public.quizzes:' || q.id,
    'user ' || q.user_id || ' but topic ' || t.id || ' is in session ' || s.id || ' of user ' || s.user_id
from public.quizzes as q
inner join public.topics as t on q.topic_id = t.id::text
inner join public.study_sessions as s on t.session_id = s.id
where q.user_id is distinct from s.user_id::text

order by 1

-- The application's statements as functions, so a client behind a transaction-mode pooler
-- gets cached plans without prepared statements of its own.
--
-- PgBouncer 1.18 in transaction mode cannot keep a client's prepared statements, so
-- `ops.queries` on a pooled connection prepares nothing, and every call would parse and
-- plan its statement (row-level-security predicates included) anew. Each function below
-- holds one statement of ops/queries/sql/ (same text, parameters by name); PostgreSQL 18
-- caches the plans of a SQL-language function per server connection, which the pooler's
-- clients share, so a pooled call plans only `select * from app.q_x(...)`.
--
-- Each function is SECURITY INVOKER (row-level security applies to the caller as before),
-- VOLATILE (a STABLE single-SELECT function would be inlined into the calling query and
-- planned with it every time), with a pinned empty search_path and schema-qualified names,
-- executable only by the role ops.queries calls it as: authenticated, or service_role for
-- the plan cache (PUBLIC's grant, which a new function has, is revoked after each). PUBLIC
-- and anon execute none of them. plan_cache_mode is pinned to the
-- generic plan, the one a prepared statement settles on for these key lookups: with the SET
-- clause (the search_path) and the default mode, calls were planned anew often enough to
-- cost about a quarter more (latest_quiz, measured as in bench/bench_queries.py).
-- depends: 0018_retention_walk_indexes

create function app.q_latest_quiz(user_id text, topic_id text)
returns table (id uuid, questions jsonb, created_at timestamptz)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    select q.id, q.questions, q.created_at
    from public.quizzes as q
    where q.user_id = q_latest_quiz.user_id and q.topic_id = q_latest_quiz.topic_id
    order by q.created_at desc
    limit 1
$$;
revoke execute on function app.q_latest_quiz(text, text) from public;
grant execute on function app.q_latest_quiz(text, text) to authenticated;

create function app.q_get_chat(user_id text, topic_id text)
returns table (messages jsonb, explanation text, last_updated timestamptz)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    select c.messages, c.explanation, c.last_updated
    from public.tutor_chats as c
    where c.user_id = q_get_chat.user_id and c.topic_id = q_get_chat.topic_id
$$;
revoke execute on function app.q_get_chat(text, text) from public;
grant execute on function app.q_get_chat(text, text) to authenticated;

create function app.q_load_session(with_history boolean, session_id uuid)
returns table (
    id uuid, user_id uuid, exam_type text, current_state text, current_context jsonb,
    updated_at timestamptz, agent_history jsonb[]
)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    select
        s.id, s.user_id, s.exam_type, s.current_state, s.current_context, s.updated_at,
        case when q_load_session.with_history then s.agent_history end
    from public.study_sessions as s
    where s.id = q_load_session.session_id
$$;
revoke execute on function app.q_load_session(boolean, uuid) from public;
grant execute on function app.q_load_session(boolean, uuid) to authenticated;

create function app.q_session_phase(session_id uuid)
returns table (current_state text)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    select s.current_state from public.study_sessions as s where s.id = q_session_phase.session_id
$$;
revoke execute on function app.q_session_phase(uuid) from public;
grant execute on function app.q_session_phase(uuid) to authenticated;

create function app.q_get_cached_plan(cache_key text)
returns table (plan jsonb, created_at timestamptz, expires_at timestamptz)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    select p.plan, p.created_at, p.expires_at
    from public.plan_cache as p
    where p.cache_key = q_get_cached_plan.cache_key and p.expires_at > now()
$$;
revoke execute on function app.q_get_cached_plan(text) from public;
grant execute on function app.q_get_cached_plan(text) to authenticated, service_role;

create function app.q_recent_misconceptions(user_id uuid, "limit" integer)
returns table (id uuid, topic_id uuid, description text, detected_at timestamptz)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    select m.id, m.topic_id, m.description, m.detected_at
    from public.misconceptions as m
    where m.user_id = q_recent_misconceptions.user_id
    order by m.detected_at desc
    limit q_recent_misconceptions."limit"
$$;
revoke execute on function app.q_recent_misconceptions(uuid, integer) from public;
grant execute on function app.q_recent_misconceptions(uuid, integer) to authenticated;

create function app.q_progress(user_id uuid)
returns table (
    exam_type text, name text, sessions bigint, best_score integer, latest_score integer,
    latest_status text
)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    select
        s.exam_type,
        t.name,
        count(*),
        max(t.mastery_score),
        (array_agg(t.mastery_score order by s.created_at desc))[1],
        (array_agg(t.status order by s.created_at desc))[1]
    from public.study_sessions as s
    inner join public.topics as t on s.id = t.session_id
    where s.user_id = q_progress.user_id
    group by s.exam_type, t.name
$$;
revoke execute on function app.q_progress(uuid) from public;
grant execute on function app.q_progress(uuid) to authenticated;

create function app.q_start_session(user_id uuid, exam_type text, metadata jsonb)
returns table (id uuid)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    insert into public.study_sessions (user_id, exam_type, metadata)
    values (
        q_start_session.user_id, q_start_session.exam_type,
        coalesce(q_start_session.metadata, '{}'::jsonb)
    )
    returning study_sessions.id
$$;
revoke execute on function app.q_start_session(uuid, text, jsonb) from public;
grant execute on function app.q_start_session(uuid, text, jsonb) to authenticated;

create function app.q_save_session(
    next_phase text, context jsonb, action text, expected_phase text, session_id uuid
)
returns table (
    id uuid, user_id uuid, exam_type text, current_state text, current_context jsonb,
    updated_at timestamptz
)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    update public.study_sessions as s
    set
        current_state = q_save_session.next_phase,
        current_context = coalesce(q_save_session.context, s.current_context),
        agent_history = array_append(
            s.agent_history,
            jsonb_build_object(
                'action', q_save_session.action, 'from', q_save_session.expected_phase,
                'to', q_save_session.next_phase, 'at', now()
            )
        )
    where s.id = q_save_session.session_id and s.current_state = q_save_session.expected_phase
    returning s.id, s.user_id, s.exam_type, s.current_state, s.current_context, s.updated_at
$$;
revoke execute on function app.q_save_session(text, jsonb, text, text, uuid) from public;
grant execute on function app.q_save_session(text, jsonb, text, text, uuid) to authenticated;

create function app.q_log_action(action text, payload jsonb, session_id uuid)
returns table (history_length integer)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    update public.study_sessions as s
    set
        agent_history = array_append(
            s.agent_history,
            jsonb_build_object('action', q_log_action.action, 'payload', q_log_action.payload, 'at', now())
        )
    where s.id = q_log_action.session_id
    returning cardinality(s.agent_history)
$$;
revoke execute on function app.q_log_action(text, jsonb, uuid) from public;
grant execute on function app.q_log_action(text, jsonb, uuid) to authenticated;

create function app.q_lock_session(session_id uuid)
returns table (id uuid)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    select s.id from public.study_sessions as s where s.id = q_lock_session.session_id
    for no key update
$$;
revoke execute on function app.q_lock_session(uuid) from public;
grant execute on function app.q_lock_session(uuid) to authenticated;

create function app.q_add_topics(names text[], session_id uuid)
returns table (id uuid, topic_session_id uuid, name text, status text, mastery_score integer)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    insert into public.topics (session_id, name)
    select s.id, wanted.name
    from public.study_sessions as s
    cross join (
        select distinct on (n.name) n.name, n.ord
        from unnest(q_add_topics.names) with ordinality as n (name, ord)
        order by n.name, n.ord
    ) as wanted
    where
        s.id = q_add_topics.session_id
        and not exists (
            select from public.topics as t where t.session_id = s.id and t.name = wanted.name
        )
    order by wanted.ord
    returning topics.id, topics.session_id, topics.name, topics.status, topics.mastery_score
$$;
revoke execute on function app.q_add_topics(text[], uuid) from public;
grant execute on function app.q_add_topics(text[], uuid) to authenticated;

create function app.q_set_mastery(score integer, status text, topic_id uuid)
returns table (id uuid, session_id uuid, name text, new_status text, mastery_score integer)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    update public.topics as t
    set mastery_score = q_set_mastery.score, status = q_set_mastery.status
    where t.id = q_set_mastery.topic_id
    returning t.id, t.session_id, t.name, t.status, t.mastery_score
$$;
revoke execute on function app.q_set_mastery(integer, text, uuid) from public;
grant execute on function app.q_set_mastery(integer, text, uuid) to authenticated;

create function app.q_record_misconceptions(user_id uuid, topic_id uuid, descriptions text[])
returns table (id uuid)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    insert into public.misconceptions (user_id, topic_id, description)
    select q_record_misconceptions.user_id, q_record_misconceptions.topic_id, left(d.description, 5000)
    from unnest(q_record_misconceptions.descriptions) as d (description)
    returning misconceptions.id
$$;
revoke execute on function app.q_record_misconceptions(uuid, uuid, text[]) from public;
grant execute on function app.q_record_misconceptions(uuid, uuid, text[]) to authenticated;

create function app.q_save_chat(user_id text, topic_id text, messages jsonb, explanation text)
returns table (chat_messages jsonb, chat_explanation text, last_updated timestamptz)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    insert into public.tutor_chats as c (user_id, topic_id, messages, explanation)
    values (q_save_chat.user_id, q_save_chat.topic_id, q_save_chat.messages, q_save_chat.explanation)
    on conflict (user_id, topic_id) do update
        set messages = excluded.messages, explanation = excluded.explanation
    returning c.messages, c.explanation, c.last_updated
$$;
revoke execute on function app.q_save_chat(text, text, jsonb, text) from public;
grant execute on function app.q_save_chat(text, text, jsonb, text) to authenticated;

create function app.q_append_chat(user_id text, topic_id text, messages jsonb)
returns table (message_count integer)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    insert into public.tutor_chats as c (user_id, topic_id, messages, explanation)
    values (q_append_chat.user_id, q_append_chat.topic_id, q_append_chat.messages, '')
    on conflict (user_id, topic_id) do update
        set messages = c.messages || excluded.messages
    returning jsonb_array_length(c.messages)
$$;
revoke execute on function app.q_append_chat(text, text, jsonb) from public;
grant execute on function app.q_append_chat(text, text, jsonb) to authenticated;

create function app.q_save_quiz(user_id text, topic_id text, questions jsonb)
returns table (id uuid, created_at timestamptz)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    insert into public.quizzes as q (user_id, topic_id, questions)
    values (q_save_quiz.user_id, q_save_quiz.topic_id, q_save_quiz.questions)
    returning q.id, q.created_at
$$;
revoke execute on function app.q_save_quiz(text, text, jsonb) from public;
grant execute on function app.q_save_quiz(text, text, jsonb) to authenticated;

create function app.q_put_cached_plan(cache_key text, plan jsonb, ttl interval)
returns table (cached_plan jsonb, created_at timestamptz, expires_at timestamptz)
language sql volatile set search_path = '' set plan_cache_mode = force_generic_plan
as $$
    insert into public.plan_cache as p (cache_key, plan, expires_at)
    values (q_put_cached_plan.cache_key, q_put_cached_plan.plan, now() + q_put_cached_plan.ttl)
    on conflict (cache_key) do update
        set plan = excluded.plan, created_at = now(), expires_at = excluded.expires_at
    returning p.plan, p.created_at, p.expires_at
$$;
revoke execute on function app.q_put_cached_plan(text, jsonb, interval) from public;
grant execute on function app.q_put_cached_plan(text, jsonb, interval) to service_role;

-- Server-owned columns stay server-owned, and an id is never live and archived at once.
--
-- Column privileges, not triggers, keep authenticated (the API role) from choosing an id
-- or a timestamp: INSERT and UPDATE are granted on the client's columns only, so a
-- statement that names id, created_at, updated_at, detected_at or last_updated fails with
-- "permission denied" before it runs, and the defaults (gen_random_uuid(), now()) always
-- apply. It is the least privilege the server can enforce itself, costs nothing per row and
-- shows in the catalog (dbops check reads it). Two triggers keep the timestamps true that
-- an UPDATE moves forward (study_sessions.updated_at, tutor_chats.last_updated): they set
-- now() unless the statement set the column itself (only a role with the column privilege
-- can, i.e. not authenticated). service_role (the backend's system role) keeps its table
-- privileges.
--
-- A statement trigger refuses a live row whose id an archive already holds (unique
-- violation, whoever inserts it), so retention and `dbops archive restore` never meet a
-- live id in the archive. An INSERT is checked once per statement against its new rows,
-- after the statement (so a restore that moves rows out of the archive and back in one
-- statement passes); an UPDATE only when it changes an id.
-- depends: 0015_current_user_id_inline

create function app.refuse_archived_id() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    clash uuid;
begin
    if tg_level = 'ROW' then
        -- an UPDATE that changes an id (only roles with the column privilege can): rare
        execute format('select a.id from archive.%I as a where a.id = $1', tg_table_name)
        into clash using new.id;
    elsif tg_table_name = 'study_sessions' then
        select n.id into clash from new_rows as n
        where exists (select from archive.study_sessions as a where a.id = n.id) limit 1;
    elsif tg_table_name = 'topics' then
        select n.id into clash from new_rows as n
        where exists (select from archive.topics as a where a.id = n.id) limit 1;
    elsif tg_table_name = 'misconceptions' then
        select n.id into clash from new_rows as n
        where exists (select from archive.misconceptions as a where a.id = n.id) limit 1;
    elsif tg_table_name = 'tutor_chats' then
        select n.id into clash from new_rows as n
        where exists (select from archive.tutor_chats as a where a.id = n.id) limit 1;
    elsif tg_table_name = 'quizzes' then
        select n.id into clash from new_rows as n
        where exists (select from archive.quizzes as a where a.id = n.id) limit 1;
    end if;
    if clash is not null then
        raise exception 'id % of %.% is already in archive.%', clash, tg_table_schema, tg_table_name, tg_table_name
            using errcode = '23505',
            hint = 'an id is never live and archived at once: restore the archived row (dbops archive restore) or use a new id';
    end if;
    return null;
end
$$;

create function app.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if new.updated_at is not distinct from old.updated_at then
        new.updated_at := now();
    end if;
    return new;
end
$$;

create function app.touch_last_updated() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if new.last_updated is not distinct from old.last_updated then
        new.last_updated := now();
    end if;
    return new;
end
$$;

revoke execute on function app.refuse_archived_id() from public;
revoke execute on function app.touch_updated_at() from public;
revoke execute on function app.touch_last_updated() from public;

create trigger study_sessions_id_not_archived after insert on study_sessions
referencing new table as new_rows
for each statement execute function app.refuse_archived_id();
create trigger study_sessions_id_not_archived_update after update of id on study_sessions
for each row when (old.id is distinct from new.id) execute function app.refuse_archived_id();
create trigger topics_id_not_archived after insert on topics
referencing new table as new_rows
for each statement execute function app.refuse_archived_id();
create trigger topics_id_not_archived_update after update of id on topics
for each row when (old.id is distinct from new.id) execute function app.refuse_archived_id();
create trigger misconceptions_id_not_archived after insert on misconceptions
referencing new table as new_rows
for each statement execute function app.refuse_archived_id();
create trigger misconceptions_id_not_archived_update after update of id on misconceptions
for each row when (old.id is distinct from new.id) execute function app.refuse_archived_id();
create trigger tutor_chats_id_not_archived after insert on tutor_chats
referencing new table as new_rows
for each statement execute function app.refuse_archived_id();
create trigger tutor_chats_id_not_archived_update after update of id on tutor_chats
for each row when (old.id is distinct from new.id) execute function app.refuse_archived_id();
create trigger quizzes_id_not_archived after insert on quizzes
referencing new table as new_rows
for each statement execute function app.refuse_archived_id();
create trigger quizzes_id_not_archived_update after update of id on quizzes
for each row when (old.id is distinct from new.id) execute function app.refuse_archived_id();

create trigger study_sessions_touch_updated_at before update on study_sessions
for each row execute function app.touch_updated_at();
create trigger tutor_chats_touch_last_updated before update on tutor_chats
for each row execute function app.touch_last_updated();

revoke insert, update, delete on users from authenticated;
grant update (email, name) on users to authenticated;
revoke insert, update on study_sessions from authenticated;
grant insert (user_id, exam_type, current_state, metadata, current_context, agent_history),
update (user_id, exam_type, current_state, metadata, current_context, agent_history)
on study_sessions to authenticated;
revoke insert, update on topics from authenticated;
grant insert (session_id, name, status, mastery_score), update (session_id, name, status, mastery_score)
on topics to authenticated;
revoke insert, update on misconceptions from authenticated;
grant insert (user_id, topic_id, description), update (user_id, topic_id, description)
on misconceptions to authenticated;
revoke insert, update on tutor_chats from authenticated;
grant insert (user_id, topic_id, messages, explanation), update (user_id, topic_id, messages, explanation)
on tutor_chats to authenticated;
revoke insert, update on quizzes from authenticated;
grant insert (user_id, topic_id, questions), update (user_id, topic_id, questions)
on quizzes to authenticated;

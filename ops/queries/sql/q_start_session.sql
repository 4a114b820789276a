-- A new study session of the acting user, in phase INTAKE.
insert into study_sessions (user_id, exam_type, metadata)
values (%(user_id)s, %(exam_type)s, coalesce(%(metadata)s::jsonb, '{}'::jsonb))
returning id

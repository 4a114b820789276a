-- Serialise topic additions of one session (and check it exists and is visible).
select id from study_sessions where id = %(session_id)s for no key update

-- The phase a session is in now (to explain a refused compare-and-set).
select current_state from study_sessions where id = %(session_id)s

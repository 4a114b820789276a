-- A topic's mastery score and status.
update topics
set mastery_score = %(score)s, status = %(status)s
where id = %(topic_id)s
returning id, session_id, name, status, mastery_score

-- Mastery per topic across the user's sessions: best and latest score, latest status.
select
    s.exam_type,
    t.name,
    count(*) as sessions,
    max(t.mastery_score) as best_score,
    (array_agg(t.mastery_score order by s.created_at desc))[1] as latest_score,
    (array_agg(t.status order by s.created_at desc))[1] as latest_status
from study_sessions as s
inner join topics as t on s.id = t.session_id
where s.user_id = %(user_id)s
group by s.exam_type, t.name

-- Add the named topics the session does not have yet, in the given order, in one statement.
-- Nothing is added to a session the caller cannot see (the caller raises NotFound then).
insert into topics (session_id, name)
select s.id, wanted.name
from study_sessions as s
cross join (
    select distinct on (n.name) n.name, n.ord
    from unnest(%(names)s::text []) with ordinality as n (name, ord)
    order by n.name, n.ord
) as wanted
where
    s.id = %(session_id)s
    and not exists (
        select from topics as t where t.session_id = s.id and t.name = wanted.name
    )
order by wanted.ord
returning id, session_id, name, status, mastery_score

-- Add the named topics the session does not have yet, in the given order, in one statement.
insert into topics (session_id, name)
select %(session_id)s, wanted.name
from (
    select distinct on (n.name) n.name, n.ord
    from unnest(%(names)s::text []) with ordinality as n (name, ord)
    order by n.name, n.ord
) as wanted
where not exists (
    select from topics as t where t.session_id = %(session_id)s and t.name = wanted.name
)
order by wanted.ord
returning id, session_id, name, status, mastery_score

-- id: updated_at_before_created_at
-- severity: error
-- category: integrity
-- description: A study session was last updated before it was created: a clock or a writer is wrong.
-- remediation: Find the writer that sets updated_at (application or import), fix it, then set updated_at = greatest(updated_at, created_at) for these rows.
select
    'public.study_sessions:' || s.id as object,
    'updated_at ' || s.updated_at || ' is before created_at ' || s.created_at as detail
from public.study_sessions as s
where s.updated_at < s.created_at
order by 1

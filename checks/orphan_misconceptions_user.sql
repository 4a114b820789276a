-- id: orphan_misconceptions_user
-- severity: error
-- category: integrity
-- description: Rows of misconceptions whose user_id matches no user (possible only when its foreign key was bypassed, e.g. disabled triggers or session_replication_role = replica).
-- remediation: Restore the missing users or archive the rows, then find how the foreign key was bypassed (see trigger_disabled).
select
    'public.misconceptions(user_id=' || m.user_id || ')' as object,
    count(*) || ' row(s) reference user ' || m.user_id || ', which does not exist' as detail
from public.misconceptions as m
where
    m.user_id is not null
    and not exists (
        select 1 from public.users as u
        where u.id = m.user_id
    )
group by m.user_id
order by 1

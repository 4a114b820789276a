-- id: orphan_quizzes_user
-- severity: error
-- category: integrity
-- description: Rows of quizzes whose user_id (text, no foreign key) matches no users.id.
-- remediation: Find the rows with SELECT * FROM public.quizzes WHERE user_id NOT IN (SELECT id::text FROM public.users); restore the user or archive the rows (never delete without a backup).
select
    'public.quizzes(user_id=' || t.user_id || ')' as object,
    count(*) || ' row(s) reference user ' || t.user_id || ', which does not exist' as detail
from public.quizzes as t
where
    not exists (
        select 1 from public.users as u
        where u.id::text = t.user_id
    )
group by t.user_id
order by 1

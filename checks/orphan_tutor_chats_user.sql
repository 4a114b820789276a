-- id: orphan_tutor_chats_user
-- severity: error
-- category: integrity
-- description: Rows of tutor_chats whose user_id (text, no foreign key) matches no users.id.
-- remediation: Find the rows with SELECT * FROM public.tutor_chats WHERE user_id NOT IN (SELECT id::text FROM public.users); restore the user or archive the rows (never delete without a backup).
select
    'public.tutor_chats(user_id=' || t.user_id || ')' as object,
    count(*) || ' row(s) reference user ' || t.user_id || ', which does not exist' as detail
from public.tutor_chats as t
where
    not exists (
        select 1 from public.users as u
        where u.id::text = t.user_id
    )
group by t.user_id
order by 1

-- A user's newest misconceptions first, by (user_id, detected_at desc): no sort.
select id, topic_id, description, detected_at
from misconceptions
where user_id = %(user_id)s
order by detected_at desc
limit %(limit)s

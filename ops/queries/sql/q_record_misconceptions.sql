-- Several misconceptions in one statement, each description cut to 5000 characters.
insert into misconceptions (user_id, topic_id, description)
select %(user_id)s, %(topic_id)s, left(d.description, 5000)
from unnest(%(descriptions)s::text []) as d (description)
returning id

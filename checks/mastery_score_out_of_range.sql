-- id: mastery_score_out_of_range
-- severity: error
-- category: integrity
-- description: A topic's mastery_score lies outside 0..100 (possible when its CHECK constraint is missing or NOT VALID).
-- remediation: Clamp it (UPDATE public.topics SET mastery_score = least(greatest(mastery_score, 0), 100) WHERE ...) and make sure topics_mastery_score_check is valid.
select
    'public.topics:' || t.id as object,
    'mastery_score is ' || t.mastery_score || ', outside 0..100' as detail
from public.topics as t
where t.mastery_score not between 0 and 100
order by 1

-- A cached plan by key (unique cache_key), only while it has not expired.
select plan, created_at, expires_at
from plan_cache
where cache_key = %(cache_key)s and expires_at > now()

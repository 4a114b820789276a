-- Store a plan under its key, or replace it and refresh its expiry.
insert into plan_cache (cache_key, plan, expires_at)
values (%(cache_key)s, %(plan)s::jsonb, now() + %(ttl)s::interval)
on conflict (cache_key) do update
    set plan = excluded.plan, created_at = now(), expires_at = excluded.expires_at
returning plan, created_at, expires_at

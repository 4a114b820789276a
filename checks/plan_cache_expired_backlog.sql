-- id: plan_cache_expired_backlog
-- severity: warn
-- category: performance
-- description: More expired plan_cache rows wait for eviction than the threshold (dbops.plan_cache_backlog_max, default 10000): the TTL job is not keeping up or not running.
-- remediation: Run `dbops evict` (and check the cron entry for `dbops retention run`); raise plan_cache_backlog_max in [tool.dbops.checks.params] if the backlog is expected.
select
    'public.plan_cache' as object,
    count(*) || ' expired rows wait for eviction (threshold '
    || current_setting('dbops.plan_cache_backlog_max') || ')' as detail
from public.plan_cache as p
where p.expires_at < now()
having count(*) > current_setting('dbops.plan_cache_backlog_max')::bigint

-- The seed's 002: session state persistence and the plan cache with a 24-hour TTL.
-- depends: 0001_core_schema

-- dbops: ignore LT01 `jsonb []` kept as first applied: a space change alters the checksum
alter table study_sessions
add column current_context jsonb default '{}'::jsonb,
add column agent_history jsonb [] default array[]::jsonb [];

create table plan_cache (
    id uuid primary key default gen_random_uuid(),
    cache_key text unique not null,
    plan jsonb not null,
    created_at timestamp with time zone default now(),
    expires_at timestamp with time zone default (now() + interval '24 hours')
);

create index idx_plan_cache_key on plan_cache (cache_key);

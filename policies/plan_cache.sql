-- public.plan_cache: a cache shared by every user. authenticated reads entries that have not
-- expired (an expired plan is never served); only service_role (BYPASSRLS, the only role
-- with write grants) writes and evicts. anon has no grant.

alter table public.plan_cache enable row level security;

create policy plan_cache_select_fresh on public.plan_cache
for select to authenticated
using (expires_at is null or expires_at > now());

-- purpose: record a migration's checksum in the same transaction as its effects
insert into dbops.migration_checksum
    (migration_id, sha256, normalized_sha256, transactional, duration_ms)
values (%(id)s, %(sha256)s, %(normalized)s, %(transactional)s, %(duration_ms)s)
on conflict (migration_id) do update
set sha256 = excluded.sha256,
    normalized_sha256 = excluded.normalized_sha256,
    transactional = excluded.transactional,
    applied_at = now(),
    applied_by = current_user,
    duration_ms = excluded.duration_ms

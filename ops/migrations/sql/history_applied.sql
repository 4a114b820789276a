-- purpose: applied migrations with their recorded checksums, oldest first
select m.migration_id,
       m.applied_at_utc,
       c.sha256,
       c.normalized_sha256
from _yoyo_migration as m
left join dbops.migration_checksum as c on m.migration_id = c.migration_id
order by m.applied_at_utc, m.migration_id

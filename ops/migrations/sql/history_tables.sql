-- purpose: which history tables exist (none on a database dbops never touched)
select to_regclass('_yoyo_migration') is not null as has_yoyo,
       to_regclass('dbops.migration_checksum') is not null as has_checksums,
       to_regclass('yoyo_lock') is not null as has_yoyo_lock

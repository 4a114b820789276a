-- id: unused_replication_slot
-- severity: warn
-- category: performance
-- description: A replication slot has no consumer connected and holds back at least dbops.replication_slot_retained_min_bytes of WAL; the server keeps that WAL (and, for a logical slot, old catalog rows) until the disk fills.
-- remediation: Reconnect its consumer, or drop the slot with SELECT pg_drop_replication_slot('name') once nothing needs it; set max_slot_wal_keep_size to cap what a slot can hold.
-- Slots are cluster-wide: every slot of the server is looked at, whatever dbops.schemas says.
select
    s.slot_name::text as object,
    s.slot_type || ' slot, inactive, retains '
    || pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)) || ' of WAL'
    || coalesce(' (database ' || s.database || ')', '') as detail
from pg_replication_slots as s
where
    not s.active
    and s.restart_lsn is not null
    and pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)
    >= current_setting('dbops.replication_slot_retained_min_bytes')::numeric
order by 1

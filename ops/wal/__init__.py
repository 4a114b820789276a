"""Continuous WAL for point-in-time recovery: `dbops wal enable | status | receive`.

The WAL lives in the backup directory's `wal/` folder, written by PostgreSQL's own
`pg_receivewal` streaming from the replication slot `dbops`; nothing here reads or writes
WAL records itself.
"""

from ops.backup.wal_files import RECEIVER_NAME, SLOT_NAME, wal_dir

__all__ = ["RECEIVER_NAME", "SLOT_NAME", "wal_dir"]

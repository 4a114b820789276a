"""dbops: migrations, row-level security, checks, retention and backups for PostgreSQL."""

__version__ = "0.1.0"

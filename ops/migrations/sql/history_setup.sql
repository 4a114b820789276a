-- purpose: dbops' own bookkeeping next to yoyo's history tables
create schema if not exists dbops;

create table if not exists dbops.migration_checksum (
    migration_id text primary key,
    sha256 text not null,
    normalized_sha256 text not null,
    transactional boolean not null,
    applied_at timestamptz not null default now(),
    applied_by text not null default current_user,
    duration_ms integer
);

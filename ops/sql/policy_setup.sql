-- purpose: dbops' record of applied policy files: per managed table, the file's checksum
-- and the table's deparsed RLS state right after the apply (what `policies diff` expects)
create schema if not exists dbops;

create table if not exists dbops.policy_apply (
    table_name text primary key,
    file_name text not null,
    sha256 text not null,
    state jsonb not null,
    applied_at timestamptz not null default now(),
    applied_by text not null default current_user
);

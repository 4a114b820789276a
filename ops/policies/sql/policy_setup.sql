-- purpose: dbops' record of applied policy files: per managed table, the file's checksum
-- and the table's deparsed RLS state right after the apply (what `policies diff` expects);
-- baseline: the table's state before its first apply (the migrations' own policies, which
-- a migration's rollback may drop by name)
create schema if not exists dbops;

create table if not exists dbops.policy_apply (
    table_name text primary key,
    file_name text not null,
    sha256 text not null,
    state jsonb not null,
    baseline jsonb,
    applied_at timestamptz not null default now(),
    applied_by text not null default current_user
);

-- purpose: record one applied policy file (in the apply's own transaction)
insert into dbops.policy_apply (table_name, file_name, sha256, state)
values (%(table_name)s, %(file_name)s, %(sha256)s, %(state)s)
on conflict (table_name) do update
set file_name = excluded.file_name,
    sha256 = excluded.sha256,
    state = excluded.state,
    applied_at = now(),
    applied_by = current_user

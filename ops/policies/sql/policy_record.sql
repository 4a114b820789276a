-- purpose: record one applied policy file (in the apply's own transaction)
-- (the baseline is kept from the first apply)
insert into dbops.policy_apply (table_name, file_name, sha256, state, baseline)
values (%(table_name)s, %(file_name)s, %(sha256)s, %(state)s, %(baseline)s)
on conflict (table_name) do update
set file_name = excluded.file_name,
    sha256 = excluded.sha256,
    state = excluded.state,
    baseline = coalesce(dbops.policy_apply.baseline, excluded.baseline),
    applied_at = now(),
    applied_by = current_user

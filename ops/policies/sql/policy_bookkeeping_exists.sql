-- purpose: whether dbops.policy_apply exists (not on a database policies were never applied to)
select to_regclass('dbops.policy_apply') is not null

-- purpose: the recorded applies; call only when dbops.policy_apply exists
select table_name, file_name, sha256, state, baseline
from dbops.policy_apply
order by table_name

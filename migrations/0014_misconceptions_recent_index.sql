-- "Recent misconceptions of a user" (remediation) reads a user's newest rows first:
-- (user_id, detected_at desc) serves it with an index scan and no sort. The old
-- single-column index on user_id is its prefix and is dropped (the rollback recreates it).
-- transactional: false
-- depends: 0011_app_login
-- dbops: ignore-file migration-gap 0013 is another branch's migration, still to merge; drop this line then

create index concurrently if not exists idx_misconceptions_user_detected
on misconceptions (user_id, detected_at desc);

-- a prefix of idx_misconceptions_user_detected
drop index concurrently if exists idx_misconceptions_user_id;

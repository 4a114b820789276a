-- transactional: false

create index concurrently if not exists idx_misconceptions_user_id on misconceptions (user_id);

drop index concurrently if exists idx_misconceptions_user_detected;

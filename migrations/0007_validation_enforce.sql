-- Step 3 of 3: validate the rules (a scan under SHARE UPDATE EXCLUSIVE, which does not
-- block reads or writes), then SET NOT NULL, which a valid CHECK (col IS NOT NULL) lets
-- skip its own scan; the helper checks are then redundant and dropped.
-- depends: 0006_validation_backfill

alter table study_sessions validate constraint study_sessions_current_state_check;
alter table topics validate constraint topics_mastery_score_check;
alter table misconceptions validate constraint misconceptions_description_notnull_check;
alter table tutor_chats validate constraint tutor_chats_messages_notnull_check;
alter table tutor_chats validate constraint tutor_chats_explanation_notnull_check;

alter table misconceptions alter column description set not null;
alter table tutor_chats
alter column messages set not null,
alter column explanation set not null;

-- dbops: ignore ban-drop-constraint redundant once SET NOT NULL holds: the column keeps the rule
alter table misconceptions drop constraint misconceptions_description_notnull_check;
-- dbops: ignore ban-drop-constraint redundant once SET NOT NULL holds: the columns keep the rule
alter table tutor_chats
drop constraint tutor_chats_messages_notnull_check,
drop constraint tutor_chats_explanation_notnull_check;

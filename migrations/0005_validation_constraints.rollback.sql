alter table tutor_chats
drop constraint tutor_chats_explanation_notnull_check,
drop constraint tutor_chats_messages_notnull_check;

alter table misconceptions drop constraint misconceptions_description_notnull_check;

alter table topics drop constraint topics_mastery_score_check;

alter table study_sessions drop constraint study_sessions_current_state_check;

alter table study_sessions alter column metadata drop default;

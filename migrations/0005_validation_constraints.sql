-- Seed "Data Validation Rules", step 1 of 3: rules every new or changed row must follow.
-- NOT VALID constraints skip the scan of existing rows and hold their lock only briefly;
-- 0006 repairs old rows in batches, 0007 validates and sets NOT NULL.
-- depends: 0004_persistence_tables

alter table study_sessions alter column metadata set default '{}'::jsonb;

alter table study_sessions
add constraint study_sessions_current_state_check check (
    current_state in ('INTAKE', 'PLANNING', 'LEARNING', 'QUIZZING', 'ANALYZING', 'COMPLETED')
) not valid;

alter table topics
add constraint topics_mastery_score_check check (mastery_score between 0 and 100) not valid;

alter table misconceptions
add constraint misconceptions_description_notnull_check check (description is not null) not valid;

alter table tutor_chats
add constraint tutor_chats_messages_notnull_check check (messages is not null) not valid,
add constraint tutor_chats_explanation_notnull_check check (explanation is not null) not valid;

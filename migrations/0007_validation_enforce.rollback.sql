alter table tutor_chats
add constraint tutor_chats_messages_notnull_check check (messages is not null) not valid,
add constraint tutor_chats_explanation_notnull_check check (explanation is not null) not valid;
alter table misconceptions
add constraint misconceptions_description_notnull_check check (description is not null) not valid;

alter table tutor_chats
alter column messages drop not null,
alter column explanation drop not null;
alter table misconceptions alter column description drop not null;

-- a validated constraint becomes NOT VALID again only by being added anew
alter table topics
drop constraint topics_mastery_score_check,
add constraint topics_mastery_score_check check (mastery_score between 0 and 100) not valid;
alter table study_sessions
drop constraint study_sessions_current_state_check,
add constraint study_sessions_current_state_check check (
    current_state in ('INTAKE', 'PLANNING', 'LEARNING', 'QUIZZING', 'ANALYZING', 'COMPLETED')
) not valid;

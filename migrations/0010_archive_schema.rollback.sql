drop table archive.quizzes;
drop table archive.tutor_chats;
drop table archive.misconceptions;
drop table archive.topics;
drop table archive.study_sessions;
drop schema archive;

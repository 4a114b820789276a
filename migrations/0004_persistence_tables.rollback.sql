drop table quizzes;
drop table tutor_chats;

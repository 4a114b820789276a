drop table misconceptions;
drop table topics;
drop table study_sessions;
drop table users;
drop extension if exists vector;

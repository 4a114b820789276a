drop policy "Allow public insert to users" on users;
drop policy "Allow public select to users" on users;

alter table users disable row level security;

alter table users drop column name;
alter table users alter column email set not null;

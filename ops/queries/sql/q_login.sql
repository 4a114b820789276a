-- Get or create the user of a login name (race-free, in app.login).
select app.login(%(name)s)

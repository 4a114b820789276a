drop function app.login(text);

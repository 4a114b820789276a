create or replace function app.current_user_id() returns uuid
language sql stable
as $$
    select case
        when claims.sub ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
            then claims.sub::uuid
    end
    from (
        select nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub' as sub
    ) as claims
$$;

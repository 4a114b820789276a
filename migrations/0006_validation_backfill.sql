-- Step 2 of 3: repair existing rows that break the new rules, 5000 rows per transaction so
-- no lock is held for long. No row is deleted: a NULL becomes the column's default or '',
-- a mastery_score is clamped to 0..100, a phase written in another case is upper-cased.
-- A current_state that is no phase at all is left for a person: 0007 then fails naming it.
-- Re-runnable: each batch only touches rows that still break a rule.
-- transactional: false
-- depends: 0005_validation_constraints

do $$
declare
    rule record;
    touched bigint;
begin
    for rule in
        select * from (values
            ('misconceptions', 'description = ''''', 'description is null'),
            ('tutor_chats', 'messages = ''[]''::jsonb', 'messages is null'),
            ('tutor_chats', 'explanation = ''''', 'explanation is null'),
            ('topics', 'mastery_score = least(greatest(mastery_score, 0), 100)',
             'mastery_score not between 0 and 100'),
            ('study_sessions', 'current_state = upper(btrim(current_state))',
             'current_state not in (''INTAKE'', ''PLANNING'', ''LEARNING'', ''QUIZZING'', '
             '''ANALYZING'', ''COMPLETED'') and upper(btrim(current_state)) in (''INTAKE'', '
             '''PLANNING'', ''LEARNING'', ''QUIZZING'', ''ANALYZING'', ''COMPLETED'')')
        ) as r (table_name, assignment, predicate)
    loop
        loop
            execute format(
                'update public.%I set %s where id in (select id from public.%I where %s limit 5000)',
                rule.table_name, rule.assignment, rule.table_name, rule.predicate
            );
            get diagnostics touched = row_count;
            commit;
            exit when touched = 0;
        end loop;
    end loop;
end
$$;

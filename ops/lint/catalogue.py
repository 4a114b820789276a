"""The catalogue of unsafe migration operations `dbops lint` flags, each with its safe recipe.

One entry per unsafe operation of strong_migrations' list, squawk's rules and PostgreSQL's
lock-level table: a small migration doing it, the rule that must flag it, and the safe
recipe as the migration steps to write instead (each must lint clean). The lock and the
recipe's wording come from the rule (`ops.lint.rules.safety`), so the README table printed from
here (`python -m ops.lint.catalogue --write README.md`) says what the findings say.
`tests/test_lint_catalogue.py` executes every migration on PostgreSQL and lints it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from ops.lint.rules.safety import RULES, SQUAWK_LOCKS

# What every entry acts on: `t` (100 rows), `p` (its parent), a range column for exclusion.
SETUP = """\
create table t (
    id bigint generated always as identity primary key,
    a int,
    s varchar(50),
    c text,
    r int4range
);
insert into t (a, s, c, r) select g, 'x', 'y', int4range(g, g + 1) from generate_series(1, 100) as g;
create table p (id bigint primary key);
insert into p select generate_series(1, 100);
"""

BATCHED_BACKFILL = """\
do $$
declare
    last_id bigint := 0;
    batch_end bigint;
begin
    loop
        select max(b.id) into batch_end
        from (select t.id from t where t.id > last_id order by t.id limit 1000) as b;
        exit when batch_end is null;
        update t set {assignment} where t.id > last_id and t.id <= batch_end;
        last_id := batch_end;
        commit;
    end loop;
end
$$;
"""

BATCHED_DELETE = """\
do $$
declare
    gone bigint;
begin
    loop
        delete from t where t.id in (select t2.id from t as t2 order by t2.id limit 1000);
        get diagnostics gone = row_count;
        exit when gone = 0;
        commit;
    end loop;
end
$$;
"""


@dataclass(frozen=True)
class Step:
    sql: str
    transactional: bool = True


@dataclass(frozen=True)
class UnsafeOperation:
    operation: str  # what the migration does, as the README names it
    source: str  # where the operation is listed: strong_migrations, squawk, PostgreSQL locks
    unsafe: Step
    rule: str  # the rule that must flag it
    recipe: tuple[Step, ...]  # the safe migration steps; () when the recipe is not a migration
    setup: str = SETUP

    @property
    def lock(self) -> str:
        return rule_lock_recipe(self.rule)[0]

    @property
    def safe(self) -> str:
        return rule_lock_recipe(self.rule)[1]


def rule_lock_recipe(rule: str) -> tuple[str, str]:
    if rule in RULES:
        return RULES[rule].lock, RULES[rule].recipe
    return SQUAWK_LOCKS[rule]


def _nt(sql: str) -> Step:
    return Step(sql, transactional=False)


SM, SQ, PG = "strong_migrations", "squawk", "PostgreSQL locks"

CATALOGUE: tuple[UnsafeOperation, ...] = (
    UnsafeOperation(
        "remove a column",
        SM,
        Step("alter table t drop column c;"),
        "ban-drop-column",
        (
            Step(
                "-- dbops: ignore ban-drop-column the application stopped reading and writing c "
                "in the release before this one\nalter table t drop column c;"
            ),
        ),
    ),
    UnsafeOperation(
        "change a column's type",
        SM,
        Step("alter table t alter column a type bigint;"),
        "changing-column-type",
        (
            Step("alter table t add column a_big bigint;"),
            _nt(BATCHED_BACKFILL.format(assignment="a_big = t.a")),
        ),
    ),
    UnsafeOperation(
        "narrow a varchar",
        SQ,
        Step("alter table t alter column s type varchar(20);"),
        "changing-column-type",
        (
            Step(  # widening changes the catalog only
                "-- dbops: ignore prefer-text-field the column keeps its declared type family\n"
                "alter table t alter column s type varchar(100);"
            ),
        ),
    ),
    UnsafeOperation(
        "rename a column",
        SM,
        Step("alter table t rename column c to note;"),
        "renaming-column",
        (Step("alter table t add column note text;"), _nt(BATCHED_BACKFILL.format(assignment="note = t.c"))),
    ),
    UnsafeOperation(
        "rename a table",
        SM,
        Step("alter table t rename to items;"),
        "renaming-table",
        (Step("create view items as select * from t;"),),
    ),
    UnsafeOperation(
        "add an auto-incrementing (identity) column",
        SM,
        Step("alter table t add column n bigint generated always as identity;"),
        "adding-field-with-default",
        (Step("alter table t add column n bigint;"), _nt(BATCHED_BACKFILL.format(assignment="n = t.id"))),
    ),
    UnsafeOperation(
        "add a stored generated column",
        SM,
        Step("alter table t add column a2 bigint generated always as (a * 2) stored;"),
        "adding-field-with-default",
        (
            Step("alter table t add column a2 bigint;"),
            _nt(BATCHED_BACKFILL.format(assignment="a2 = t.a * 2")),
        ),
    ),
    UnsafeOperation(
        "add a column with a volatile default",
        SM,
        Step("alter table t add column seen_at timestamptz default clock_timestamp();"),
        "adding-field-with-default",
        (
            Step(
                "alter table t add column seen_at timestamptz;\n"
                "alter table t alter column seen_at set default clock_timestamp();"
            ),
            _nt(BATCHED_BACKFILL.format(assignment="seen_at = clock_timestamp()")),
        ),
    ),
    UnsafeOperation(
        "add a NOT NULL column without a default",
        SQ,
        Step("alter table t add column owner bigint not null;"),
        "adding-required-field",
        (Step("alter table t add column owner bigint;"),),
        setup="create table t (id bigint primary key);",  # empty: on rows the ALTER fails
    ),
    UnsafeOperation(
        "add a check constraint",
        SM,
        Step("alter table t add constraint t_a_positive check (a > 0);"),
        "constraint-missing-not-valid",
        (
            Step("alter table t add constraint t_a_positive check (a > 0) not valid;"),
            Step("alter table t validate constraint t_a_positive;"),
        ),
    ),
    UnsafeOperation(
        "add a foreign key",
        SM,
        Step("alter table t add constraint t_a_fkey foreign key (a) references p (id);"),
        "adding-foreign-key-constraint",
        (
            Step("alter table t add constraint t_a_fkey foreign key (a) references p (id) not valid;"),
            Step("alter table t validate constraint t_a_fkey;"),
        ),
    ),
    UnsafeOperation(
        "add a unique constraint",
        SM,
        Step("alter table t add constraint t_a_key unique (a);"),
        "disallowed-unique-constraint",
        (
            _nt("create unique index concurrently if not exists t_a_key on t (a);"),
            Step("alter table t add constraint t_a_key unique using index t_a_key;"),
        ),
    ),
    UnsafeOperation(
        "add a primary key to an existing table",
        SQ,
        Step("alter table items add primary key (id);"),
        "adding-serial-primary-key-field",
        (
            _nt("create unique index concurrently if not exists items_pkey on items (id);"),
            Step("alter table items add constraint items_pkey primary key using index items_pkey;"),
        ),
        setup="create table items (id bigint not null);\ninsert into items select generate_series(1, 100);",
    ),
    UnsafeOperation(
        "add an exclusion constraint",
        SM,
        Step("alter table t add constraint t_r_excl exclude using gist (r with &&);"),
        "exclusion-constraint",
        (
            Step(
                "create table bookings (id bigint primary key, r int4range, exclude using gist (r with &&));"
            ),
        ),
    ),
    UnsafeOperation(
        "add a json column",
        SM,
        Step("alter table t add column payload json;"),
        "json-column",
        (Step("alter table t add column payload jsonb;"),),
    ),
    UnsafeOperation(
        "set NOT NULL on an existing column",
        SM,
        Step("alter table t alter column a set not null;"),
        "adding-not-nullable-field",
        (
            Step("alter table t add constraint t_a_not_null check (a is not null) not valid;"),
            Step(
                "alter table t validate constraint t_a_not_null;\nalter table t alter column a set not null;"
            ),
        ),
    ),
    UnsafeOperation(
        "backfill in the same transaction as DDL",
        SM,
        Step("alter table t add column score bigint;\nupdate t set score = 0;"),
        "backfill-in-ddl-transaction",
        (
            Step("alter table t add column score bigint;"),
            _nt(BATCHED_BACKFILL.format(assignment="score = 0")),
        ),
    ),
    UnsafeOperation(
        "add an index",
        SM,
        Step("create index t_a_idx on t (a);"),
        "require-concurrent-index-creation",
        (_nt("create index concurrently if not exists t_a_idx on t (a);"),),
    ),
    UnsafeOperation(
        "add an index concurrently in a transactional migration",
        SQ,
        Step("create index concurrently if not exists t_a_idx on t (a);"),
        "concurrently-in-transaction",
        (_nt("create index concurrently if not exists t_a_idx on t (a);"),),
    ),
    UnsafeOperation(
        "drop an index",
        SQ,
        Step("drop index t_pkey_twin;"),
        "require-concurrent-index-deletion",
        (_nt("drop index concurrently if exists t_pkey_twin;"),),
        setup=SETUP + "create index t_pkey_twin on t (id);",
    ),
    UnsafeOperation(
        "rebuild an index",
        SQ,
        Step("reindex table t;"),
        "require-concurrent-reindex",
        (_nt("reindex table concurrently t;"),),
    ),
    UnsafeOperation(
        "detach a partition",
        SQ,
        Step("alter table events detach partition events_2026;"),
        "require-concurrent-partition-detach",
        (_nt("alter table public.events detach partition public.events_2026 concurrently;"),),
        setup="create table events (id bigint, at date) partition by range (at);\n"
        "create table events_2026 partition of events for values from ('2026-01-01') to ('2027-01-01');",
    ),
    UnsafeOperation(
        "refresh a materialized view",
        PG,
        Step("refresh materialized view t_totals;"),
        "refresh-materialized-view",
        (Step("refresh materialized view concurrently t_totals;"),),
        setup=SETUP + "create materialized view t_totals as select a, count(*) as n from t group by a;\n"
        "create unique index t_totals_a on t_totals (a);",
    ),
    UnsafeOperation(
        "VACUUM FULL",
        PG,
        _nt("vacuum full t;"),
        "vacuum-full",
        (_nt("vacuum (analyze) t;"),),
    ),
    UnsafeOperation(
        "VACUUM in a transactional migration",
        PG,
        Step("vacuum t;"),
        "concurrently-in-transaction",
        (_nt("vacuum (analyze) t;"),),
    ),
    UnsafeOperation("CLUSTER", PG, Step("cluster t using t_pkey;"), "cluster", ()),
    UnsafeOperation(
        "LOCK TABLE",
        PG,
        Step("lock table t in access exclusive mode;\nalter table t add column note text;"),
        "lock-table",
        (Step("alter table t add column note text;"),),
    ),
    UnsafeOperation(
        "TRUNCATE",
        PG,
        Step("truncate t;"),
        "truncate",
        (_nt(BATCHED_DELETE),),
    ),
    UnsafeOperation(
        "move a table to another tablespace",
        PG,
        Step("alter table t set tablespace pg_default;"),
        "table-rewrite",
        (),
    ),
    UnsafeOperation(
        "make a table unlogged (or logged)", PG, Step("alter table t set unlogged;"), "table-rewrite", ()
    ),
    UnsafeOperation(
        "transaction control in a transactional migration",
        SQ,
        Step("begin;\nalter table t add column note text;\ncommit;"),
        "transaction-control",
        (Step("alter table t add column note text;"),),
    ),
)

START = "<!-- lint-catalogue: generated by python -m ops.lint.catalogue --write README.md -->"
END = "<!-- lint-catalogue: end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table() -> str:
    rows = [
        "| operation | listed by | rule | lock | safe recipe |",
        "| --- | --- | --- | --- | --- |",
    ]
    for op in CATALOGUE:
        rows.append(
            f"| {_cell(op.operation)} | {op.source} | `{op.rule}` | {_cell(op.lock)} | {_cell(op.safe)} |"
        )
    return "\n".join(rows)


def readme_with_table(readme: str) -> str:
    """The README text with the block between START and END replaced by the current table."""
    head, start, rest = readme.partition(START)
    if not start or END not in rest:
        raise ValueError(f"README has no {START} ... {END} block")
    _, end, tail = rest.partition(END)
    return f"{head}{START}\n{markdown_table()}\n{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print (or write into README) the unsafe-operation table.")
    parser.add_argument("--write", type=Path, metavar="README", help="replace the table block in this file")
    args = parser.parse_args(argv)
    if args.write is None:
        print(markdown_table())
        return 0
    text = args.write.read_text(encoding="utf-8")
    args.write.write_text(readme_with_table(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""README stays true: the flags it names exist, the history it lists is the shipped one,
its crontab lines share one format, and lint's shipped sqlfluff defaults work elsewhere."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from ops.cli import COMMANDS, cli
from tests.processes import clean_env
from tests.server import MIGRATION_IDS, ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
_STOP = {"&&", "||", "|", ">", ">>", ";", "2>&1", "#"}


def _code_texts() -> list[str]:
    """Inline code spans and the lines of fenced blocks: where README shows commands."""
    texts: list[str] = []
    fenced = False
    for line in README.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            texts.append(line)
        else:
            texts += re.findall(r"`([^`]+)`", line)
    return texts


def _options(command: click.Command) -> set[str]:
    return {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}


GLOBAL = _options(cli)


def _invocations() -> list[tuple[str, list[str]]]:
    """(text, flags) for every `dbops ...` in README's code."""
    found = []
    for text in _code_texts():
        for match in re.finditer(r"(?:^|[\s/(=])dbops((?:\s+\S+)*)", text):
            tokens: list[str] = []
            for token in match.group(1).split():
                if token in _STOP or token.startswith(("$(", ">")):
                    break
                tokens.append(token)
            found.append((text, tokens))
    return found


def _resolve(tokens: list[str]) -> tuple[click.Command | None, list[str]]:
    """The command the tokens name and the option words written after dbops."""
    command: click.Command | None = None
    flags: list[str] = []
    context = click.Context(cli)
    for token in tokens:
        word = token.strip("[]()|,.`'\"")
        if word.startswith("-"):
            flags.append(word.split("=", 1)[0])
            continue
        if command is None and word in COMMANDS:
            command = cli.get_command(context, word)
        elif isinstance(command, click.Group) and word in command.commands:
            command = command.commands[word]
    return command, flags


def test_every_flag_named_in_readme_exists() -> None:
    unknown = []
    invocations = _invocations()
    assert len(invocations) > 50  # the parser sees README's commands
    for text, tokens in invocations:
        command, flags = _resolve(tokens)
        known = GLOBAL | {"--help", "-h", "--version"} | (_options(command) if command else set())
        if isinstance(command, click.Group):  # `backup prune --keep-last` written as `backup ... | prune`
            for sub in command.commands.values():
                known |= _options(sub)
        unknown += [(flag, text) for flag in flags if flag not in known and flag not in ("-", "--")]
    assert unknown == []


def test_the_history_readme_lists_is_the_shipped_one() -> None:
    paragraph = README[README.index("The history:") :].split("\n\n", 1)[0]
    numbers: set[int] = set()
    for first, last in re.findall(r"\b(\d{4})(?:-(\d{4}))?\b", paragraph):
        numbers.update(range(int(first), int(last or first) + 1))
    assert numbers == {int(mid[:4]) for mid in MIGRATION_IDS}


def test_crontab_lines_share_one_format() -> None:
    cron = re.compile(r"^(?:[\d*/,-]+\s+){5}(\S+)")
    commands = [m.group(1) for line in _code_texts() if (m := cron.match(line))]
    assert len(commands) >= 2
    assert set(commands) == {"cd"}, "user crontab format (no user field) everywhere"


def test_readme_says_how_versions_are_made() -> None:
    assert "rev: <tag>" not in README
    assert "git tag vX.Y.Z" in README


def test_check_text_output_is_described_as_it_is() -> None:
    assert "severity (`error`, `warn`, `info`), category, detail and remediation" not in README


def test_fail_on_words_are_the_one_vocabulary() -> None:
    assert "(`note`, `warning` — the\ndefault —, `error`, or `never`)" not in README
    assert "`error`, `warning`, `info` or `none`" in README


# --- sqlfluff defaults for a repository that has none ------------------------------------


@pytest.mark.parametrize("config", ["none", "pyproject without [tool.sqlfluff]"])
def test_lint_in_another_repository_uses_sane_sqlfluff_defaults(config: str, tmp_path: Path) -> None:
    if config != "none":
        (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\n', encoding="utf-8")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_t.sql").write_text(
        "-- depends:\ncreate table t (\n    id bigint generated always as identity primary key,\n"
        "    name text not null,\n    type text\n);\n",
        encoding="utf-8",
    )
    (tmp_path / "migrations" / "0001_t.rollback.sql").write_text("drop table t;\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "ops", "lint", "--processes", "1", "migrations"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RF04" not in result.stdout


def test_a_repository_with_its_own_sqlfluff_settings_gets_them(tmp_path: Path) -> None:
    (tmp_path / ".sqlfluff").write_text("[sqlfluff]\ndialect = postgres\nmax_line_length = 20\n")
    (tmp_path / "q.sql").write_text("select 1 as one_long_column_name_here;\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "ops", "lint", "--processes", "1", "q.sql"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    assert "LT05" in result.stdout, result.stdout + result.stderr

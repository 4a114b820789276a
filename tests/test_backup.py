"""backup, backup list, backup verify, restore: against the real server, through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from ops import embedded, sqlfiles
from ops.backup.manifest import MANIFEST, Manifest, read_manifest
from ops.locks import NAMESPACE, JobFamily
from tests.conftest import SERVER, Database, settings_for
from tests.server import HEAD, MIGRATION_COUNT

OLD_PG_BIN = Path("/usr/lib/postgresql/15/bin")


def add_rows(db: Database) -> None:
    """A few rows in every application table, with jsonb, arrays and NULLs."""
    db.conn.execute(
        """
        insert into users (id, email, name) select
            ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid,
            'u' || g || '@example.org',
            'user ' || g
        from generate_series(1, 40) as g;
        insert into study_sessions (user_id, exam_type, current_state, metadata, agent_history)
        select id, 'JEE', 'LEARNING', jsonb_build_object('n', name), array['{"step": 1}'::jsonb]
        from users;
        insert into topics (session_id, name, mastery_score)
        select id, 'topic ' || exam_type, 40 from study_sessions;
        insert into misconceptions (user_id, topic_id, description)
        select s.user_id, t.id, 'confuses ' || t.name
        from topics t join study_sessions s on s.id = t.session_id;
        insert into plan_cache (cache_key, plan) select 'k' || g, jsonb_build_object('g', g)
        from generate_series(1, 25) as g;
        insert into tutor_chats (user_id, topic_id, messages, explanation)
        select id::text, 't' || name, '[{"role": "user", "text": "why?"}]', 'because ' || name
        from users order by name limit 15;
        insert into quizzes (user_id, topic_id, questions)
        select id::text, 't' || name, jsonb_build_array(name, null, 'q') from users order by name limit 30;
        """
    )


def fingerprints(url: str) -> dict[str, tuple[int, str]]:
    """Per table: the row count and an md5 over its rows' text, in a stable order."""
    found = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for schema, table in conn.execute(sqlfiles.query("ops.backup", "backup_tables")).fetchall():
            query = sql.SQL(
                "select count(*), coalesce(md5(string_agg(t::text, E'\\n' order by t::text)), '') from {} t"
            )
            row = conn.execute(query.format(sql.Identifier(schema, table))).fetchone()
            assert row is not None
            found[f"{schema}.{table}"] = (row[0], row[1])
    return found


def only_backup(where: Path) -> Path:
    found = [p for p in where.iterdir()]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Path]]:
    """One migrated database with rows and one backup of it, for the whole module (both read-only)."""
    from ops.backup import BackupRequest, run_backup
    from ops.deploy import deploy

    name = f"dbops_backup_source_{os.getpid()}"
    with psycopg.connect(SERVER.url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = SERVER.url(name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            settings = settings_for(url)
            deploy(conn, settings)
            database = Database(url, conn)
            add_rows(database)
            where = tmp_path_factory.mktemp("shared") / "backups"
            result = run_backup(url, BackupRequest(where))
            yield database, Path(result.path)
    finally:
        with psycopg.connect(SERVER.url("postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def source(shared: tuple[Database, Path]) -> Database:
    return shared[0]


@pytest.fixture
def backup_dir(tmp_path: Path) -> Path:
    return tmp_path / "backups"


@pytest.fixture
def taken(shared: tuple[Database, Path], backup_dir: Path) -> Path:
    """This test's own copy of the shared backup, free to damage."""
    copy = backup_dir / shared[1].name
    shutil.copytree(shared[1], copy)
    return copy


def test_round_trip_restores_every_table_equal(
    source: Database, empty_db: Database, taken: Path, run_cli: Any
) -> None:
    result = run_cli("restore", taken.name, "--dir", str(taken.parent), "--target-url", empty_db.url)
    assert result.exit_code == 0, result.output
    assert f"restored {taken.name} into " in result.output
    assert f"row counts match; migration head {HEAD}" in result.output
    before, after = fingerprints(source.url), fingerprints(empty_db.url)
    assert before["public.users"][0] == 40 and before["public.misconceptions"][0] == 40
    assert after == before
    status = run_cli("status", url=empty_db.url)
    assert status.exit_code == 0
    assert f"{MIGRATION_COUNT} applied; head: {HEAD}" in status.output


def test_manifest_records_what_was_dumped(source: Database, taken: Path) -> None:
    m = read_manifest(taken)
    assert taken.name == m.id and m.id.endswith("_" + source.conn.info.dbname)
    assert m.database == source.conn.info.dbname
    assert m.dump_format == "custom" and m.jobs == 1
    assert m.pg_dump_version == embedded.server_version() == m.server_version
    assert m.server_version_num == source.conn.info.server_version
    assert m.migration_head == HEAD and len(m.migrations_applied) == MIGRATION_COUNT
    assert m.row_counts == {k: v[0] for k, v in fingerprints(source.url).items()}
    assert [f.path for f in m.files] == ["dump.pgdump"]
    assert m.files[0].size == (taken / "dump.pgdump").stat().st_size > 0
    assert m.toc_entries > 50
    assert m.compression in ("zstd", "gzip:1") and m.compression_reason
    assert m.duration_s > 0 and m.verifications == () and not m.verified
    assert sorted(p.name for p in taken.iterdir()) == ["dump.pgdump", MANIFEST]


def test_json_summary(source: Database, backup_dir: Path, run_cli: Any) -> None:
    result = run_cli("--json", "backup", "--dir", str(backup_dir), "--compress", "gzip:1", url=source.url)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["id"] == only_backup(backup_dir).name
    assert data["manifest"]["compression"] == "gzip:1"
    assert data["manifest"]["compression_reason"] == "requested"
    assert data["manifest"]["row_counts"]["public.users"] == 40


def test_verify_restore_proves_and_records(source: Database, taken: Path, run_cli: Any) -> None:
    result = run_cli("backup", "verify", taken.name, "--restore", "--dir", str(taken.parent), url=source.url)
    assert result.exit_code == 0, result.output
    tables = len(read_manifest(taken).row_counts)
    assert f"backup {taken.name}: OK (1 file(s) match their SHA-256" in result.output
    assert f"restored into a scratch database: {tables} tables' row counts match; checks: " in result.output
    m = read_manifest(taken)
    assert m.verified
    last = m.verifications[-1]
    assert last.restore and last.ok and last.problems == ()
    assert last.checks == "passed"
    leftover = source.scalar("select count(*) from pg_database where datname like 'dbops_backup_verify%'")
    assert leftover == 0
    listed = run_cli("backup", "list", "--dir", str(taken.parent))
    assert "restored" in listed.output.splitlines()[1]


def test_verify_checksums_only_is_recorded_but_does_not_mark_verified(taken: Path, run_cli: Any) -> None:
    result = run_cli("backup", "verify", taken.name, "--dir", str(taken.parent))
    assert result.exit_code == 0, result.output
    m = read_manifest(taken)
    assert m.verifications[-1].ok and not m.verifications[-1].restore and not m.verified


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flipped_byte_is_corruption(source: Database, taken: Path, run_cli: Any) -> None:
    flip_byte(taken / "dump.pgdump")
    result = run_cli("backup", "verify", taken.name, "--restore", "--dir", str(taken.parent), url=source.url)
    assert result.exit_code == 7
    assert "dump.pgdump: SHA-256 differs from the manifest (content changed)" in result.output
    assert f"Error: backup {taken.name} does not match its manifest" in result.output
    m = read_manifest(taken)
    assert not m.verified and not m.verifications[-1].ok
    assert m.verifications[-1].checks == "not run: the files do not match the manifest"


def test_truncated_dump_is_corruption(taken: Path, run_cli: Any) -> None:
    dump = taken / "dump.pgdump"
    size = dump.stat().st_size
    with dump.open("r+b") as fh:
        fh.truncate(size // 2)
    result = run_cli("backup", "verify", taken.name, "--dir", str(taken.parent))
    assert result.exit_code == 7
    expected = f"dump.pgdump: {size // 2} bytes, {size} in the manifest (truncated or grown)"
    assert expected in result.output


def test_extra_and_missing_files_are_corruption(taken: Path, run_cli: Any) -> None:
    (taken / "dump.pgdump").rename(taken / "renamed.pgdump")
    result = run_cli("--json", "backup", "verify", taken.name, "--dir", str(taken.parent))
    assert result.exit_code == 7
    error = f"Error: backup {taken.name} does not match its manifest: dump.pgdump: missing"
    assert result.stderr.startswith(error)
    data = json.loads(result.stdout)  # the result object only: no second JSON document for the error
    assert data["problems"] == ["dump.pgdump: missing", "renamed.pgdump: not in the manifest"]


def test_directory_format_parallel_round_trip_and_corrupt_member(
    source: Database, backup_dir: Path, run_cli: Any
) -> None:
    result = run_cli(
        "backup", "--dir", str(backup_dir), "--format", "directory", "--jobs", "2", url=source.url
    )
    assert result.exit_code == 0, result.output
    taken = only_backup(backup_dir)
    m = read_manifest(taken)
    assert m.dump_format == "directory" and m.jobs == 2
    assert "dump/toc.dat" in [f.path for f in m.files] and len(m.files) > 5
    ok = run_cli(
        "backup", "verify", taken.name, "--restore", "--jobs", "2", "--dir", str(backup_dir), url=source.url
    )
    assert ok.exit_code == 0, ok.output
    biggest = max((f for f in m.files if f.path != "dump/toc.dat"), key=lambda f: f.size)
    flip_byte(taken / biggest.path)
    bad = run_cli("backup", "verify", taken.name, "--dir", str(backup_dir))
    assert bad.exit_code == 7
    assert f"{biggest.path}: SHA-256 differs from the manifest (content changed)" in bad.output


def test_jobs_without_directory_format_is_refused(source: Database, backup_dir: Path, run_cli: Any) -> None:
    result = run_cli("backup", "--dir", str(backup_dir), "--jobs", "2", url=source.url)
    assert result.exit_code == 2
    assert "Error: parallel dump (--jobs > 1) needs the directory format" in result.output
    assert not backup_dir.exists()


def test_unwritable_backup_dir_is_a_clear_error(source: Database, tmp_path: Path, run_cli: Any) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    result = run_cli("backup", "--dir", str(blocker / "backups"), url=source.url)
    assert result.exit_code == 2
    assert (
        f"Error: cannot write to the backup directory {blocker / 'backups'}: Not a directory" in result.output
    )
    assert "Hint: pass --dir (or set DBOPS_BACKUP_DIR / backup_dir) to a writable directory" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


# root writes through permission bits: as root, the command runs in a child process that has
# become the embedded server's system user (which exists wherever root runs the tests). The
# child runs the CLI in-process: the interpreter may live where only root can read it.
NON_ROOT_USER = "embedded_postgres"


def _run_cli_as(uid: int, gid: int, argv: list[str]) -> tuple[int, str]:
    """`dbops argv` in a forked child with the given ids; (exit code, output)."""
    from click.testing import CliRunner

    from ops.cli import cli

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 99
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            result = CliRunner().invoke(cli, argv, catch_exceptions=True)
            os.write(write_end, f"{result.exit_code}\n{result.output}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, data
    code, _, output = data.partition("\n")
    return int(code), output


def test_read_only_backup_dir_is_a_clear_error(source: Database) -> None:
    import pwd
    import tempfile

    owner = pwd.getpwnam(NON_ROOT_USER) if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    folder = Path(tempfile.mkdtemp(prefix="dbops-read-only-"))
    backup_dir = folder / "backups"
    try:
        backup_dir.mkdir()
        for path in (folder, backup_dir):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        backup_dir.chmod(stat.S_IRUSR | stat.S_IXUSR)
        argv = ["--database-url", source.url, "backup", "--dir", str(backup_dir)]
        code, output = _run_cli_as(owner.pw_uid, owner.pw_gid, argv)
        assert code == 2, output
        assert "Error: cannot write to the backup directory" in output
        assert list(backup_dir.iterdir()) == []
    finally:
        backup_dir.chmod(stat.S_IRWXU)
        shutil.rmtree(folder)


def test_missing_pg_dump_is_a_clear_error(
    source: Database, backup_dir: Path, tmp_path: Path, run_cli: Any
) -> None:
    empty = tmp_path / "no-binaries"
    empty.mkdir()
    result = run_cli("backup", "--dir", str(backup_dir), "--pg-bin-dir", str(empty), url=source.url)
    assert result.exit_code == 2
    assert f"Error: no pg_dump and pg_restore found in {empty}" in result.output
    assert "Hint: point DBOPS_PG_BIN_DIR (or --pg-bin-dir) at a PostgreSQL bin directory" in result.output
    assert not backup_dir.exists()


@pytest.mark.skipif(not (OLD_PG_BIN / "pg_dump").exists(), reason="needs PostgreSQL 15 client programs")
def test_older_pg_dump_is_refused_before_anything_runs(
    source: Database, backup_dir: Path, run_cli: Any
) -> None:
    from ops.backup.tools import program_version

    old, _ = program_version(OLD_PG_BIN / "pg_dump")
    server = embedded.server_version()
    result = run_cli(
        "backup", "--dir", str(backup_dir), url=source.url, env={"DBOPS_PG_BIN_DIR": str(OLD_PG_BIN)}
    )
    assert result.exit_code == 2
    assert (
        f"Error: pg_dump {old} ({OLD_PG_BIN / 'pg_dump'}) is older than the server ({server}) "
        "and cannot dump it; nothing was run"
    ) in result.output
    assert "Hint: install PostgreSQL 18 client programs" in result.output
    assert not backup_dir.exists()


def fake_pg_bin(tmp_path: Path, body: str) -> Path:
    """pg_dump replaced by a script (its --version still answers as the real one); the real pg_restore."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    real = embedded.bin_dir()
    script = bin_dir / "pg_dump"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then exec {real / "pg_dump"} --version; fi\n'
        'while [ $# -gt 0 ]; do [ "$1" = "--file" ] && out="$2"; shift; done\n' + body
    )
    script.chmod(0o755)
    (bin_dir / "pg_restore").symlink_to(real / "pg_restore")
    return bin_dir


def test_zero_byte_dump_is_never_recorded(
    source: Database, backup_dir: Path, tmp_path: Path, run_cli: Any
) -> None:
    bin_dir = fake_pg_bin(tmp_path, ': > "$out"\nexit 0\n')
    result = run_cli("backup", "--dir", str(backup_dir), "--pg-bin-dir", str(bin_dir), url=source.url)
    assert result.exit_code == 4
    assert "Error: pg_dump exited 0 but wrote an empty dump" in result.output
    assert list(backup_dir.iterdir()) == []
    assert "0 backup(s)" in run_cli("backup", "list", "--dir", str(backup_dir)).output


def test_failed_dump_leaves_nothing(source: Database, backup_dir: Path, tmp_path: Path, run_cli: Any) -> None:
    body = 'printf partial > "$out"\necho "pg_dump: error: query failed: disk full" >&2\nexit 1\n'
    bin_dir = fake_pg_bin(tmp_path, body)
    result = run_cli("backup", "--dir", str(backup_dir), "--pg-bin-dir", str(bin_dir), url=source.url)
    assert result.exit_code == 4
    assert "Error: pg_dump failed (exit 1): pg_dump: error: query failed: disk full" in result.output
    assert list(backup_dir.iterdir()) == []


def test_unsupported_compression_is_refused(source: Database, backup_dir: Path, run_cli: Any) -> None:
    from ops.backup.tools import PgTools, supports

    tools = PgTools(embedded.bin_dir(), embedded.server_version(), 18)
    if supports(tools, "lz4"):
        pytest.skip("this pg_dump build has lz4")
    result = run_cli("backup", "--dir", str(backup_dir), "--compress", "lz4", url=source.url)
    assert result.exit_code == 2
    assert "cannot compress with lz4" in result.output
    assert not backup_dir.exists()


def test_an_unknown_compression_is_a_usage_error_before_anything_runs(
    source: Database, backup_dir: Path, run_cli: Any
) -> None:
    result = run_cli("backup", "--dir", str(backup_dir), "--compress", "bogus", url=source.url)
    assert result.exit_code == 2, result.output
    assert "Error: unknown compression 'bogus'" in result.stderr
    assert "Hint: use --compress auto" in result.stderr
    assert "pg_dump" not in result.output and not backup_dir.exists()


def test_busy_when_another_backup_holds_the_lock(source: Database, backup_dir: Path, run_cli: Any) -> None:
    with psycopg.connect(source.url, autocommit=True) as other:
        other.execute("select pg_advisory_lock(%s, %s)", (NAMESPACE, int(JobFamily.BACKUP)))
        result = run_cli("backup", "--dir", str(backup_dir), url=source.url)
    assert result.exit_code == 5
    assert "Error: another run holds the backup lock: pid" in result.output
    assert not backup_dir.exists() or list(backup_dir.iterdir()) == []


def test_restore_refuses_a_non_empty_target(taken: Path, empty_db: Database, run_cli: Any) -> None:
    empty_db.conn.execute("create table keepme (id int); insert into keepme values (1)")
    result = run_cli("restore", taken.name, "--dir", str(taken.parent), "--target-url", empty_db.url)
    assert result.exit_code == 2
    assert "is not empty: 1 object(s), e.g. relation public.keepme; nothing was restored" in result.output
    assert "Hint: restore into an empty database (createdb), or pass --clean --yes" in result.output
    assert empty_db.scalar("select count(*) from pg_tables where schemaname = 'public'") == 1


def test_restore_clean_needs_yes_then_replaces(
    source: Database, taken: Path, empty_db: Database, run_cli: Any
) -> None:
    args = ("restore", taken.name, "--dir", str(taken.parent), "--target-url", empty_db.url)
    assert run_cli(*args).exit_code == 0
    empty_db.conn.execute("delete from quizzes")
    refused = run_cli(*args, "--clean")
    assert refused.exit_code == 2
    assert "needs confirmation" in refused.output
    assert empty_db.scalar("select count(*) from quizzes") == 0
    again = run_cli(*args, "--clean", "--yes")
    assert again.exit_code == 0, again.output
    assert fingerprints(empty_db.url) == fingerprints(source.url)


def test_restore_dry_run_changes_nothing(taken: Path, empty_db: Database, run_cli: Any) -> None:
    result = run_cli(
        "restore", taken.name, "--dir", str(taken.parent), "--target-url", empty_db.url, "--dry-run"
    )
    assert result.exit_code == 0, result.output
    assert "dry run: would run " in result.output and "--single-transaction" in result.output
    assert empty_db.scalar("select count(*) from pg_class where relnamespace = 'public'::regnamespace") == 0


def test_restore_wrong_target_url(taken: Path, run_cli: Any) -> None:
    url = SERVER.url("no_such_database_here")
    result = run_cli("restore", taken.name, "--dir", str(taken.parent), "--target-url", url)
    assert result.exit_code == 3
    assert "Error: cannot connect to" in result.output and "no_such_database_here" in result.output
    bad = run_cli(
        "restore", taken.name, "--dir", str(taken.parent), "--target-url", "postgresql://x:secret@[bad"
    )
    assert bad.exit_code == 2  # a URL libpq cannot read: usage, not connection
    assert "Error: invalid connection string" in bad.output and "secret" not in bad.output


def test_restore_refuses_an_older_target_server(taken: Path, empty_db: Database, run_cli: Any) -> None:
    data = json.loads((taken / MANIFEST).read_text())
    data["server_version"], data["server_version_num"] = "99.1", 990001
    (taken / MANIFEST).write_text(json.dumps(data))
    result = run_cli("restore", taken.name, "--dir", str(taken.parent), "--target-url", empty_db.url)
    assert result.exit_code == 2
    server = embedded.server_version()
    assert (
        f"Error: the target server ({server}) is older than the backup's source (99.1); nothing was restored"
    ) in result.output
    assert "Hint: restore into a PostgreSQL 99 or newer server" in result.output


def test_restore_refuses_a_corrupt_backup(taken: Path, empty_db: Database, run_cli: Any) -> None:
    flip_byte(taken / "dump.pgdump")
    result = run_cli("restore", taken.name, "--dir", str(taken.parent), "--target-url", empty_db.url)
    assert result.exit_code == 7
    assert (
        f"Error: backup {taken.name} does not match its manifest: dump.pgdump: SHA-256 differs"
        in result.output
    )
    assert empty_db.scalar("select count(*) from pg_class where relnamespace = 'public'::regnamespace") == 0


def test_latest_names_the_newest_backup(backup_dir: Path, taken: Path, run_cli: Any) -> None:
    result = run_cli("backup", "verify", "latest", "--dir", str(backup_dir))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"backup {taken.name}: OK")
    none = run_cli("backup", "verify", "latest", "--dir", str(backup_dir / "empty"))
    assert none.exit_code == 2
    assert f"Error: no backups in {backup_dir / 'empty'}" in none.output


def test_unknown_backup_id(backup_dir: Path, taken: Path, run_cli: Any) -> None:
    result = run_cli("backup", "verify", "20990101T000000Z_nope", "--dir", str(backup_dir))
    assert result.exit_code == 2
    assert f"Error: no backup '20990101T000000Z_nope' in {backup_dir}" in result.output
    assert f"(newest: {taken.name})" in result.output


def test_list_shows_backups_partial_and_foreign_folders(taken: Path, run_cli: Any) -> None:
    (taken.parent / ".20990101T000000Z_x.partial").mkdir()
    (taken.parent / "holiday-photos").mkdir()
    result = run_cli("backup", "list", "--dir", str(taken.parent))
    assert result.exit_code == 0
    lines = result.output.splitlines()
    header = ["backup", "kind", "parent", "LSN range", "restorable from", "until", "database", "format"]
    assert lines[0].split() == " ".join([*header, "size", "head", "verified"]).split()
    assert lines[1].startswith(taken.name) and lines[1].split()[-1] == "never"
    assert lines[1].split()[1] == "logical"
    assert "1 backup(s) in" in result.output
    assert "in progress (or left by a killed run): .20990101T000000Z_x.partial" in result.output
    assert "not a dbops backup (no readable manifest.json): holiday-photos" in result.output
    data = json.loads(run_cli("--json", "backup", "list", "--dir", str(taken.parent)).output)
    assert [b["id"] for b in data["backups"]] == [taken.name]


def test_backup_dir_precedence(source: Database, tmp_path: Path, run_cli: Any, monkeypatch: Any) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.dbops]\nbackup_dir = "from-file"\n')
    monkeypatch.chdir(project)
    assert run_cli("backup", url=source.url).exit_code == 0
    assert len(list((project / "from-file").iterdir())) == 1
    env = {"DBOPS_BACKUP_DIR": str(tmp_path / "from-env")}
    assert run_cli("backup", url=source.url, env=env).exit_code == 0
    assert len(list((tmp_path / "from-env").iterdir())) == 1
    assert run_cli("backup", "--dir", "from-flag", url=source.url, env=env).exit_code == 0
    assert len(list((project / "from-flag").iterdir())) == 1


def test_manifest_round_trips_through_json(taken: Path) -> None:
    m = read_manifest(taken)
    assert Manifest.from_dict(json.loads(json.dumps(m.to_dict()))) == m
    shutil.copytree(taken, taken.parent / "copy")
    assert read_manifest(taken.parent / "copy") == m


def test_auto_compression_measures_a_sample() -> None:
    from ops.backup.tools import pick_gzip_level

    text = b"".join(
        b'%d\tthe student reviews integration by parts\t{"score": %d}\n' % (i, i % 97) for i in range(20000)
    )
    chosen = pick_gzip_level(text)
    assert chosen.spec == "gzip:1"
    assert chosen.reason.startswith("zstd not in this pg_dump build; gzip 1 saves ")
    assert chosen.sample["gzip6_bytes"] <= chosen.sample["gzip1_bytes"] < len(text) // 4
    noise = pick_gzip_level(os.urandom(200_000))
    assert noise.spec == "none"
    assert noise.reason.startswith("the data does not compress (gzip 1 output is ")
    assert pick_gzip_level(b"").spec == "gzip:1"


@pytest.fixture
def old_server() -> Iterator[str]:
    """A real PostgreSQL 15 server on a Unix socket in a scratch folder; yields its URL."""
    import pwd
    import subprocess
    import tempfile

    if not (OLD_PG_BIN / "postgres").exists():
        pytest.skip("needs the PostgreSQL 15 server programs")
    user = "embedded_postgres" if os.geteuid() == 0 else None
    if user:
        try:
            owner = pwd.getpwnam(user)
        except KeyError:
            pytest.skip("root needs the embedded_postgres user to run a server")
    home = Path(tempfile.mkdtemp(prefix="dbops-pg15-"))
    data = home / "data"
    if user:
        os.chown(home, owner.pw_uid, owner.pw_gid)
    run = {"user": user, "check": True, "capture_output": True}
    subprocess.run([str(OLD_PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"], **run)
    options = f"-k {home} -c listen_addresses='' -p 5499"
    ctl = [str(OLD_PG_BIN / "pg_ctl"), "-D", str(data)]
    subprocess.run([*ctl, "-o", options, "-l", str(home / "log"), "-w", "start"], **run)
    try:
        yield f"postgresql://postgres@/postgres?host={home}&port=5499"
    finally:
        subprocess.run([*ctl, "-m", "immediate", "stop"], **{**run, "check": False})
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow
def test_restore_refuses_a_real_older_server(taken: Path, old_server: str, run_cli: Any) -> None:
    with psycopg.connect(old_server) as conn:
        old_version = str(conn.execute("show server_version").fetchone()[0]).split(" ")[0]  # type: ignore[index]
    result = run_cli("restore", taken.name, "--dir", str(taken.parent), "--target-url", old_server)
    assert result.exit_code == 2
    assert (
        f"Error: the target server ({old_version}) is older than the backup's source "
        f"({embedded.server_version()}); nothing was restored"
    ) in result.output
    with psycopg.connect(old_server) as conn:
        assert conn.execute(
            "select count(*) from pg_class where relnamespace = 'public'::regnamespace"
        ).fetchone() == (0,)


def test_row_counts_are_those_of_the_dump_despite_concurrent_writes(
    source: Database, backup_dir: Path, empty_db: Database, run_cli: Any
) -> None:
    from ops.backup import BackupRequest, run_backup

    before = source.scalar("select count(*) from public.plan_cache")
    writes: list[int] = []

    def write_while_dumping(done: int, total: int, table: str) -> None:
        if not writes:
            with psycopg.connect(source.url, autocommit=True) as other:
                other.execute(
                    "insert into plan_cache (cache_key, plan) "
                    "select 'late' || g, '{}' from generate_series(1, 7) g"
                )
            writes.append(7)

    try:
        result = run_backup(source.url, BackupRequest(backup_dir), write_while_dumping)
    finally:
        source.conn.execute("delete from plan_cache where cache_key like 'late%'")
    assert writes == [7]
    assert result.manifest.row_counts["public.plan_cache"] == before
    restored = run_cli("restore", result.id, "--dir", str(backup_dir), "--target-url", empty_db.url)
    assert restored.exit_code == 0, restored.output
    assert empty_db.scalar("select count(*) from public.plan_cache") == before

"""The metrics file in a folder others can write (the collector's): nothing planted at its
path or beside it makes dbops write elsewhere, block, or hang a cron job."""

from __future__ import annotations

import fcntl
import os
import stat
import threading
from pathlib import Path

import pytest

from ops.metrics import Sample, folder_lock, read_textfile, write_textfile

HELP = {"dbops_test_value": "A value."}
SAMPLES = [Sample("dbops_test_value", 1.0)]


def test_a_link_planted_at_the_path_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("the data of someone else\n")
    path = tmp_path / "shared" / "dbops.prom"
    path.parent.mkdir()
    path.symlink_to(victim)
    assert read_textfile(path) == []  # not followed to read either
    write_textfile(path, SAMPLES, HELP)
    assert victim.read_text() == "the data of someone else\n"
    assert not path.is_symlink() and read_textfile(path) == SAMPLES
    assert sorted(p.name for p in path.parent.iterdir()) == ["dbops.prom"]


def test_the_writers_temporary_name_cannot_be_planted(tmp_path: Path) -> None:
    """prometheus_client writes `<path>.<pid>.<thread>` first: a link there must not matter."""
    victim = tmp_path / "victim"
    victim.write_text("kept\n")
    path = tmp_path / "dbops.prom"
    planted = Path(f"{path}.{os.getpid()}.{threading.get_ident()}")
    planted.symlink_to(victim)
    write_textfile(path, SAMPLES, HELP)
    assert victim.read_text() == "kept\n" and read_textfile(path) == SAMPLES


def test_a_fifo_at_the_path_is_neither_read_nor_waited_on(tmp_path: Path) -> None:
    path = tmp_path / "dbops.prom"
    os.mkfifo(path)
    assert read_textfile(path) == []  # would block for ever on a plain open()
    write_textfile(path, SAMPLES, HELP)
    assert stat.S_ISREG(path.lstat().st_mode) and read_textfile(path) == SAMPLES


def test_a_lock_held_by_someone_else_is_an_error_after_a_bounded_wait(tmp_path: Path) -> None:
    path = tmp_path / "dbops.prom"
    with folder_lock(path):
        holder = os.open(tmp_path / ".dbops.prom.lock", os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with (
            pytest.raises(OSError, match="its lock was held by another process"),
            folder_lock(path, wait_s=0.2),
        ):
            pass
    finally:
        os.close(holder)
    with folder_lock(path, wait_s=0.2):  # free again
        pass

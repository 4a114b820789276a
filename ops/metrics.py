"""Prometheus textfile metrics (node_exporter's textfile collector) for the cron verbs.

One writer for `retention run` and the backup verbs: samples go into a
`prometheus_client` registry and out through its textfile writer, which escapes label
values and renames a temporary file over the old one, so a reader sees the old file or
the new one, never half of one. The file is private (0600, whatever the umask): it names
backups and rules, and only the collector reads it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from ops.errors import ConfigError

PRIVATE_FILE = 0o600


@dataclass(frozen=True)
class Sample:
    """One gauge value; a family's samples all carry the same label names."""

    name: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


class _Gauges(Collector):
    """The samples as gauge families, in the order of `help` (families without samples are left out)."""

    def __init__(self, samples: Sequence[Sample], help_texts: Mapping[str, str]) -> None:
        self.samples, self.help_texts = samples, help_texts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, text in self.help_texts.items():
            mine = [s for s in self.samples if s.name == name]
            if not mine:
                continue
            family = GaugeMetricFamily(name, text, labels=list(mine[0].labels))
            for s in mine:
                family.add_metric(list(s.labels.values()), s.value)
            yield family


def registry_of(samples: Iterable[Sample], help_texts: Mapping[str, str]) -> CollectorRegistry:
    known = list(samples)
    unknown = sorted({s.name for s in known} - set(help_texts))
    if unknown:
        raise ValueError(f"metrics without a HELP text: {', '.join(unknown)}")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Gauges(known, help_texts))
    return registry


def render(samples: Iterable[Sample], help_texts: Mapping[str, str]) -> str:
    """The exposition text the file would hold."""
    return generate_latest(registry_of(samples, help_texts)).decode("utf-8")


def require_writable(path: Path, flag: str = "--metrics-file") -> None:
    """Refuse before the run starts (exit 2) when the file's folder cannot take it."""
    if not os.access(path.absolute().parent, os.W_OK):
        raise ConfigError(
            f"cannot write the metrics file {path}: its directory is missing or read-only",
            f"create the directory or pass another {flag}",
        )


def write_textfile(path: Path, samples: Iterable[Sample], help_texts: Mapping[str, str]) -> None:
    """Replace `path` atomically with the samples, mode 0600; an OSError leaves the old file.

    prometheus_client's textfile writer names its temporary file after the target and the
    pid, a name anyone who can write the folder can plant a symlink at; so it writes into a
    fresh private folder beside the target (mkdtemp: 0700, created by this run), and that
    file is renamed over the target. A rename replaces a link planted at the target itself,
    never what it points to.
    """
    registry = registry_of(samples, help_texts)
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        written = work / path.name
        old_umask = os.umask(0o077)
        try:
            write_to_textfile(str(written), registry)
        finally:
            os.umask(old_umask)
        os.chmod(written, PRIVATE_FILE)
        _fsync(written, os.O_RDONLY)
        os.replace(written, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _fsync(path.parent, os.O_RDONLY | os.O_DIRECTORY)


def not_written(path: Path, exc: OSError) -> str:
    """The warning for a file that could not be written: the run's own outcome stands."""
    return f"metrics file {path} not written: {exc.strerror or exc} (the previous one, if any, is kept)"


def read_textfile(path: Path) -> list[Sample]:
    """The gauges of a file this module wrote; none when it is missing, unreadable or not a
    regular file (a link, a FIFO or a folder planted at the path is never followed or waited on)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return []
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return []
        with os.fdopen(fd, "rb", closefd=False) as fh:
            text = fh.read().decode("utf-8")
        return [
            Sample(s.name, s.value, dict(s.labels))
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]
    except (OSError, ValueError, UnicodeDecodeError):
        return []
    finally:
        os.close(fd)


LOCK_WAIT_S = 10.0


@contextlib.contextmanager
def folder_lock(path: Path, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Serialise dbops processes that read, merge and rewrite `path`: a private lock file
    beside it (never a link). Held by anyone else for longer than `wait_s`, it is an OSError
    (the caller warns, the run's outcome stands): a stuck lock can never hang a cron job."""
    fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as busy:
                if time.monotonic() >= deadline:
                    why = f"its lock was held by another process for {wait_s:.0f}s"
                    raise OSError(errno.EWOULDBLOCK, why) from busy
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

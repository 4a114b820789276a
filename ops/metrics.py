"""Prometheus textfile metrics (node_exporter's textfile collector) for the cron verbs.

One writer for `retention run` and the backup verbs: samples go into a
`prometheus_client` registry and out through its textfile writer, which escapes label
values and renames a temporary file over the old one, so a reader sees the old file or
the new one, never half of one. The file is private (0600, whatever the umask): it names
backups and rules, and only the collector reads it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
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
    if not os.access(path.resolve().parent, os.W_OK):
        raise ConfigError(
            f"cannot write the metrics file {path}: its directory is missing or read-only",
            f"create the directory or pass another {flag}",
        )


def write_textfile(path: Path, samples: Iterable[Sample], help_texts: Mapping[str, str]) -> None:
    """Replace `path` atomically with the samples, mode 0600; an OSError leaves the old file."""
    registry = registry_of(samples, help_texts)
    path = path.resolve()
    old_umask = os.umask(0o077)  # the writer's temporary file is created private, renamed as is
    try:
        write_to_textfile(str(path), registry)
    finally:
        os.umask(old_umask)
    os.chmod(path, PRIVATE_FILE)
    _fsync(path, os.O_RDONLY)
    _fsync(path.parent, os.O_RDONLY | os.O_DIRECTORY)


def not_written(path: Path, exc: OSError) -> str:
    """The warning for a file that could not be written: the run's own outcome stands."""
    return f"metrics file {path} not written: {exc.strerror or exc} (the previous one, if any, is kept)"


def read_textfile(path: Path) -> list[Sample]:
    """The gauges of a file this module wrote; none when it is missing or unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
        return [
            Sample(s.name, s.value, dict(s.labels))
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]
    except (OSError, ValueError, UnicodeDecodeError):
        return []


@contextlib.contextmanager
def folder_lock(path: Path) -> Iterator[None]:
    """Serialise dbops processes that read, merge and rewrite files in the folder of `path`."""
    fd = os.open(path.resolve().parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""The WAL folder (`<backup dir>/wal/`): segment names, what is there, what is missing.

Names follow PostgreSQL's: `TTTTTTTTXXXXXXXXYYYYYYYY` (timeline, then the segment number
split in two), `.partial` for the segment pg_receivewal is writing, `TTTTTTTT.history`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SLOT_NAME = "dbops"
RECEIVER_NAME = "dbops_wal"  # the receiver's application_name (synchronous_standby_names)
DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024
PARTIAL = ".partial"

_SEGMENT = re.compile(r"^[0-9A-F]{24}$")
_HISTORY = re.compile(r"^[0-9A-F]{8}\.history$")
_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


def wal_dir(backup_dir: Path) -> Path:
    from ops.backup.manifest import WAL_FOLDER

    return backup_dir / WAL_FOLDER


def parse_lsn(text: str) -> int:
    match = _LSN.match(text.strip())
    if not match:
        raise ValueError(f"not an LSN: {text!r}")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def segments_per_xlogid(segment_size: int) -> int:
    return 0x100000000 // segment_size


def segment_name(timeline: int, lsn: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> str:
    segno = lsn // segment_size
    per = segments_per_xlogid(segment_size)
    return f"{timeline:08X}{segno // per:08X}{segno % per:08X}"


def segment_number(name: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    return int(name[8:16], 16) * segments_per_xlogid(segment_size) + int(name[16:24], 16)


def timeline_of(name: str) -> int:
    return int(name[:8], 16)


def is_segment(name: str) -> bool:
    return bool(_SEGMENT.match(name))


@dataclass(frozen=True)
class WalListing:
    segments: tuple[str, ...]  # finished segments, oldest first
    partial: str | None  # the segment being written, without its suffix
    histories: tuple[str, ...]
    newest_at: datetime | None  # when the newest WAL file was last written (UTC)
    segment_size: int

    @property
    def newest(self) -> str | None:
        return self.partial or (self.segments[-1] if self.segments else None)


def list_wal(folder: Path) -> WalListing:
    if not folder.is_dir():
        return WalListing((), None, (), None, DEFAULT_SEGMENT_SIZE)
    segments: list[str] = []
    partials: list[str] = []
    histories: list[str] = []
    newest = 0.0
    size = DEFAULT_SEGMENT_SIZE
    for entry in folder.iterdir():
        name = entry.name
        if is_segment(name):
            segments.append(name)
            size = entry.stat().st_size or size
        elif name.endswith(PARTIAL) and is_segment(name.removesuffix(PARTIAL)):
            partials.append(name.removesuffix(PARTIAL))
        elif _HISTORY.match(name):
            histories.append(name)
        else:
            continue
        newest = max(newest, entry.stat().st_mtime)
    key = lambda n: (segment_number(n, size), timeline_of(n))  # noqa: E731
    segments.sort(key=key)
    partials.sort(key=key)
    return WalListing(
        tuple(segments),
        partials[-1] if partials else None,
        tuple(sorted(histories)),
        datetime.fromtimestamp(newest, UTC) if newest else None,
        size,
    )


def missing_segments(listing: WalListing, first: str) -> list[str]:
    """Segments from `first` up to the newest WAL received that are not in the folder.

    A segment counts as present on any timeline (a promotion switches timelines at the
    same segment number), and the newest one may still be `.partial`.
    """
    size = listing.segment_size
    have = {segment_number(n, size) for n in listing.segments}
    if listing.partial:
        have.add(segment_number(listing.partial, size))
    if not have:
        return [first]
    start, end = segment_number(first, size), max(have)
    tli = timeline_of(first)
    per = segments_per_xlogid(size)
    return [f"{tli:08X}{n // per:08X}{n % per:08X}" for n in range(start, end + 1) if n not in have] or (
        [first] if start > end else []
    )

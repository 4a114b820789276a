"""Realistic sample data, generated per user and loaded with binary COPY."""

from ops.sample._load import Chunk, SampleReport, copy_chunk, generate_rows, load_sample_data, prefetched
from ops.sample._rows import TABLES, SampleShape, user_name

__all__ = [
    "TABLES",
    "Chunk",
    "SampleReport",
    "SampleShape",
    "copy_chunk",
    "generate_rows",
    "load_sample_data",
    "prefetched",
    "user_name",
]

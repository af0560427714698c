"""Table schemas: one YAML declaration per table, and generators that derive everything else from it."""

from schemas.loader import load_stream, load_table, load_tables, parse_table
from schemas.model import LINEAGE_COLUMNS, Column, Partition, Rules, Stream, Table
from schemas.types import DataType, parse_type

__all__ = [
    "LINEAGE_COLUMNS",
    "Column",
    "DataType",
    "Partition",
    "Rules",
    "Stream",
    "Table",
    "load_stream",
    "load_table",
    "load_tables",
    "parse_table",
    "parse_type",
]

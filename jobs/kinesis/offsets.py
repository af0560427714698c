"""Shard positions, epoch ends and the source offset Spark checkpoints.

An offset names an *epoch* and the position each tracked shard starts from in it::

    {"done": [...], "epoch": k, "run": "<uuid>", "shards": {"shardId-...": "<position>"},
     "stream": "...", "t0": <ms or null>, "v": 1}

The batch Spark plans as ``(O[k-1], O[k]]`` reads epoch ``k``: every shard from ``O[k].shards``
to the end an executor claims in the end log. Kinesis cannot tell the driver where a shard ends,
so the end is decided by whoever reads first and then replayed exactly (see ``endlog``).

Positions are short strings so offsets stay small and compare as JSON:
``TRIM_HORIZON``, ``AT_TIMESTAMP:<epoch ms>``, ``AFTER_SEQUENCE_NUMBER:<seq>``.
An epoch's end is a position or one of ``SHARD_END`` (drained) and ``NOCHANGE``.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from streamlake.errors import SourceError

OFFSET_VERSION = 1
SHARD_END = "SHARD_END"
NOCHANGE = "NOCHANGE"

PositionKind = Literal["TRIM_HORIZON", "AT_TIMESTAMP", "AFTER_SEQUENCE_NUMBER"]


@dataclass(frozen=True)
class Position:
    """Where a shard is read from; always one Kinesis can reproduce (never ``LATEST``)."""

    kind: PositionKind
    value: str = ""

    @classmethod
    def trim_horizon(cls) -> Position:
        return cls("TRIM_HORIZON")

    @classmethod
    def at_timestamp(cls, epoch_ms: int) -> Position:
        return cls("AT_TIMESTAMP", str(int(epoch_ms)))

    @classmethod
    def after(cls, sequence_number: str) -> Position:
        return cls("AFTER_SEQUENCE_NUMBER", str(sequence_number))

    @property
    def timestamp_ms(self) -> int | None:
        return int(self.value) if self.kind == "AT_TIMESTAMP" else None

    def encode(self) -> str:
        return self.kind if self.kind == "TRIM_HORIZON" else f"{self.kind}:{self.value}"

    @classmethod
    def parse(cls, text: str) -> Position:
        kind, _, value = str(text).partition(":")
        if kind == "TRIM_HORIZON" and not value:
            return cls.trim_horizon()
        if kind == "AT_TIMESTAMP" and value.isdigit():
            return cls.at_timestamp(int(value))
        if kind == "AFTER_SEQUENCE_NUMBER" and value.isdigit():
            return cls.after(value)
        raise SourceError(
            f"unreadable shard position {text!r}: expected TRIM_HORIZON, AT_TIMESTAMP:<ms> or "
            "AFTER_SEQUENCE_NUMBER:<seq> (was the checkpoint written by another source?)"
        )

    def iterator_request(self) -> dict[str, Any]:
        """Keyword arguments for ``GetShardIterator`` (besides stream and shard)."""
        if self.kind == "AFTER_SEQUENCE_NUMBER":
            return {"ShardIteratorType": self.kind, "StartingSequenceNumber": self.value}
        if self.kind == "AT_TIMESTAMP":
            return {
                "ShardIteratorType": self.kind,
                "Timestamp": datetime.fromtimestamp(int(self.value) / 1000, UTC),
            }
        return {"ShardIteratorType": self.kind}


def next_start(start: Position, end: str) -> Position | None:
    """Where the next epoch starts after an epoch that began at ``start`` and ended at ``end``.

    ``None`` means the shard is drained (``SHARD_END``).
    """
    if end == SHARD_END:
        return None
    if end == NOCHANGE:
        return start
    return Position.parse(end)


@dataclass(frozen=True)
class SourceOffset:
    """The offset Spark checkpoints for this source (see the module docstring)."""

    run: str
    epoch: int
    stream: str
    shards: Mapping[str, str]
    done: tuple[str, ...] = ()
    t0: int | None = None
    v: int = field(default=OFFSET_VERSION)

    def position(self, shard_id: str) -> Position:
        return Position.parse(self.shards[shard_id])

    def to_dict(self) -> dict[str, Any]:
        """Plain dict with keys in sorted order, so the JSON Spark writes is canonical."""
        return {
            "done": sorted(self.done),
            "epoch": self.epoch,
            "run": self.run,
            "shards": {k: self.shards[k] for k in sorted(self.shards)},
            "stream": self.stream,
            "t0": self.t0,
            "v": self.v,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceOffset:
        if data.get("v") != OFFSET_VERSION:
            raise SourceError(
                f"kinesis offset version {data.get('v')!r} is not supported (expected {OFFSET_VERSION}); "
                f"offset: {json.dumps(dict(data))[:200]}"
            )
        try:
            shards = {str(k): str(v) for k, v in dict(data["shards"]).items()}
            for text in shards.values():
                Position.parse(text)
            t0 = data.get("t0")
            return cls(
                run=str(data["run"]),
                epoch=int(data["epoch"]),
                stream=str(data["stream"]),
                shards=shards,
                done=tuple(sorted(str(s) for s in data.get("done", ()))),
                t0=None if t0 is None else int(t0),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceError(f"malformed kinesis offset {json.dumps(dict(data))[:200]}: {exc!r}") from exc

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any]) -> SourceOffset:
        """Parse an offset as Spark reports it: JSON, a dict, or ``lastProgress``'s Python repr."""
        if isinstance(text, Mapping):
            return cls.from_dict(text)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            # PySpark 4.x's SourceProgress.endOffset is str() of the parsed JSON (a Python repr).
            try:
                data = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise SourceError(f"kinesis offset is not JSON: {text[:200]!r}") from exc
        if not isinstance(data, dict):
            raise SourceError(f"kinesis offset is not a JSON object: {text[:200]!r}")
        return cls.from_dict(data)

"""Row rules compiled from the declarations in schemas/ to Spark Column expressions.

Each rule becomes a named *failure* condition that is only judged when the value is present
(missing values are the business of ``missing_required``). The reasons of one row are gathered in
a single array column, so every rule of every table is evaluated in one pass over the data.

Time rules are judged against the record's Kinesis arrival time, not the wall clock, so a replayed
batch decides exactly as the first attempt did.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

from quality import reasons
from schemas.model import Column as SchemaColumn
from schemas.model import Table


@dataclass(frozen=True)
class RowRule:
    """One named check: ``fails`` is true for a row that breaks it (null when not applicable)."""

    reason: str
    fails: Column


def column_rules(col: SchemaColumn, value: Column, *, arrival_time: Column) -> list[RowRule]:
    """The failure conditions declared for one column, applied to ``value`` (already typed)."""
    r = col.rules
    out: list[RowRule] = []
    if r.enum is not None:
        out.append(RowRule(reasons.rule(col.name, "enum"), ~value.isin(list(r.enum))))
    if r.min is not None:
        out.append(RowRule(reasons.rule(col.name, "min"), value < F.lit(r.min)))
    if r.max is not None:
        out.append(RowRule(reasons.rule(col.name, "max"), value > F.lit(r.max)))
    if r.regex is not None:
        out.append(RowRule(reasons.rule(col.name, "regex"), ~value.rlike(r.regex)))
    if r.max_length is not None:
        length = F.size(value) if col.type.kind in ("array", "map") else F.length(value)
        out.append(RowRule(reasons.rule(col.name, "max_length"), length > F.lit(r.max_length)))
    if r.not_in_future is not None:
        limit = arrival_time + F.make_interval(secs=F.lit(r.not_in_future))
        out.append(RowRule(reasons.rule(col.name, "not_in_future"), value > limit))
    if r.not_before is not None:
        out.append(RowRule(reasons.rule(col.name, "not_before"), value < F.to_timestamp(F.lit(r.not_before))))
    return out


def table_rules(table: Table, typed: dict[str, Column], *, arrival_time: Column) -> list[RowRule]:
    """Every declared rule of ``table``; ``typed`` maps column name -> its typed value."""
    rules: list[RowRule] = []
    for col in table.columns:
        if col.name in typed:
            rules.extend(column_rules(col, typed[col.name], arrival_time=arrival_time))
    return rules


def reasons_array(rules: list[RowRule]) -> Column:
    """An ``array<string>`` of the reasons whose condition is true (empty when the row passes)."""
    if not rules:
        return F.array().cast("array<string>")
    flagged = F.array(*[F.when(rule.fails, F.lit(rule.reason)) for rule in rules])
    return F.filter(flagged, lambda x: x.isNotNull())

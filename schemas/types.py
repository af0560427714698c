"""The type language of schemas/.

Parses ``decimal(12,2)``, ``array<string>``, ``struct<a:int,b:string>``, ``map<string,long>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from streamlake.errors import SchemaError

Kind = Literal["string", "int", "long", "double", "boolean", "timestamp", "date", "decimal", "array", "struct", "map"]
PRIMITIVES: tuple[str, ...] = ("string", "int", "long", "double", "boolean", "timestamp", "date")
VALID_TYPES = (
    "string, int, long, double, boolean, timestamp, date, decimal(p,s), array<T>, struct<name:T,...>, map<K,V>"
)


@dataclass(frozen=True)
class StructField:
    name: str
    type: DataType
    nullable: bool = True


@dataclass(frozen=True)
class DataType:
    kind: Kind
    precision: int | None = None
    scale: int | None = None
    element: DataType | None = None  # array
    key: DataType | None = None  # map
    value: DataType | None = None  # map
    fields: tuple[StructField, ...] = field(default_factory=tuple)  # struct

    @property
    def nested(self) -> bool:
        return self.kind in ("array", "struct", "map")

    def __str__(self) -> str:
        if self.kind == "decimal":
            return f"decimal({self.precision},{self.scale})"
        if self.kind == "array":
            return f"array<{self.element}>"
        if self.kind == "map":
            return f"map<{self.key},{self.value}>"
        if self.kind == "struct":
            return "struct<" + ",".join(f"{f.name}:{f.type}" for f in self.fields) + ">"
        return self.kind


_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|\d+|[<>(),:])")


def parse_type(text: str) -> DataType:
    """Parse a type string; raise SchemaError naming the text and the valid forms."""
    tokens = _tokenize(text)
    parser = _Parser(tokens, text)
    result = parser.type()
    if parser.pos != len(tokens):
        raise SchemaError(f"unexpected {tokens[parser.pos]!r} in type {text!r}; valid types: {VALID_TYPES}")
    return result


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise SchemaError(f"cannot parse type {text!r} at {text[pos:]!r}; valid types: {VALID_TYPES}")
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.pos = 0

    def _next(self) -> str:
        if self.pos >= len(self.tokens):
            raise SchemaError(f"type {self.text!r} ends early; valid types: {VALID_TYPES}")
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def _expect(self, tok: str) -> None:
        got = self._next()
        if got != tok:
            raise SchemaError(f"expected {tok!r} but found {got!r} in type {self.text!r}")

    def _int(self) -> int:
        tok = self._next()
        if not tok.isdigit():
            raise SchemaError(f"expected a number but found {tok!r} in type {self.text!r}")
        return int(tok)

    def type(self) -> DataType:
        name = self._next().lower()
        aliases = {"integer": "int", "bigint": "long", "bool": "boolean", "float64": "double"}
        name = aliases.get(name, name)
        if name in PRIMITIVES:
            return DataType(kind=name)  # type: ignore[arg-type]
        if name == "decimal":
            self._expect("(")
            precision = self._int()
            self._expect(",")
            scale = self._int()
            self._expect(")")
            if not (1 <= precision <= 38 and 0 <= scale <= precision):
                raise SchemaError(f"decimal({precision},{scale}) in {self.text!r}: need 1<=p<=38 and 0<=s<=p")
            return DataType(kind="decimal", precision=precision, scale=scale)
        if name == "array":
            self._expect("<")
            element = self.type()
            self._expect(">")
            return DataType(kind="array", element=element)
        if name == "map":
            self._expect("<")
            key = self.type()
            self._expect(",")
            value = self.type()
            self._expect(">")
            if key.nested:
                raise SchemaError(f"map keys must be primitive in {self.text!r}")
            return DataType(kind="map", key=key, value=value)
        if name == "struct":
            self._expect("<")
            fields: list[StructField] = []
            while True:
                fname = self._next()
                self._expect(":")
                fields.append(StructField(fname, self.type()))
                sep = self._next()
                if sep == ">":
                    break
                if sep != ",":
                    raise SchemaError(f"expected ',' or '>' but found {sep!r} in type {self.text!r}")
            return DataType(kind="struct", fields=tuple(fields))
        raise SchemaError(f"unknown type {name!r} in {self.text!r}; valid types: {VALID_TYPES}")

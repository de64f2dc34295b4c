"""Just enough SOQL for the queries a sync sends: field lists, WHERE with AND/OR/parentheses over
dates, ids, strings, booleans and IN lists, ORDER BY, LIMIT. Records are plain dicts."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<op>!=|<=|>=|=|<|>)|(?P<punct>[(),])"
    r"|(?P<datetime>\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:?\d{2}))|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<word>[A-Za-z_][\w.]*))"
)


class SoqlError(ValueError):
    """A query the sandbox cannot parse: Salesforce answers 400 MALFORMED_QUERY."""


@dataclass
class Query:
    fields: list[str]
    sobject: str
    where: Callable[[dict[str, Any]], bool]
    order_by: list[str]
    limit: int | None


def parse_datetime(text: str) -> datetime:
    cleaned = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", cleaned):
        cleaned = cleaned[:-2] + ":" + cleaned[-2:]
    return datetime.fromisoformat(cleaned)


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise SoqlError(f"unexpected token at: {text[position : position + 20]!r}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise SoqlError("unexpected end of query")
        self.position += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].upper() == word:
            self.position += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.keyword(word):
            raise SoqlError(f"expected {word}")

    def query(self) -> Query:
        self.expect("SELECT")
        fields = [self.take()[1]]
        while self.peek() == ("punct", ","):
            self.take()
            fields.append(self.take()[1])
        self.expect("FROM")
        sobject = self.take()[1]
        where: Callable[[dict[str, Any]], bool] = lambda record: True  # noqa: E731
        if self.keyword("WHERE"):
            where = self.disjunction()
        order: list[str] = []
        if self.keyword("ORDER"):
            self.expect("BY")
            order.append(self.take()[1])
            while self.peek() == ("punct", ","):
                self.take()
                order.append(self.take()[1])
            self.keyword("ASC")
        limit = None
        if self.keyword("LIMIT"):
            limit = int(self.take()[1])
        if self.peek() is not None:
            raise SoqlError(f"unexpected {self.peek()}")
        return Query(fields, sobject, where, order, limit)

    def disjunction(self) -> Callable[[dict[str, Any]], bool]:
        parts = [self.conjunction()]
        while self.keyword("OR"):
            parts.append(self.conjunction())
        return lambda record: any(part(record) for part in parts)

    def conjunction(self) -> Callable[[dict[str, Any]], bool]:
        parts = [self.atom()]
        while self.keyword("AND"):
            parts.append(self.atom())
        return lambda record: all(part(record) for part in parts)

    def atom(self) -> Callable[[dict[str, Any]], bool]:
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.disjunction()
            if self.take() != ("punct", ")"):
                raise SoqlError("expected )")
            return inner
        field = self.take()[1]
        if self.keyword("IN"):
            if self.take() != ("punct", "("):
                raise SoqlError("expected ( after IN")
            values = [self.value()]
            while self.peek() == ("punct", ","):
                self.take()
                values.append(self.value())
            self.take()
            return lambda record: record.get(field) in values
        kind, op = self.take()
        if kind != "op":
            raise SoqlError(f"expected an operator after {field}")
        value = self.value()
        return lambda record: _compare(record.get(field), op, value)

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return text[1:-1].replace("\\'", "'")
        if kind == "datetime":
            return parse_datetime(text)
        if kind == "number":
            return float(text)
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "word" and text.lower() == "null":
            return None
        raise SoqlError(f"unexpected value {text!r}")


def _compare(left: Any, op: str, right: Any) -> bool:
    if isinstance(right, datetime) and isinstance(left, str):
        left = parse_datetime(left)
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    return bool({"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op])


def parse(text: str) -> Query:
    return _Parser(text).query()


def sort_key(order_by: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    def key(record: dict[str, Any]) -> tuple[Any, ...]:
        return tuple("" if record.get(name) is None else record.get(name) for name in order_by)

    return key

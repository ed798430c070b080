"""A parser for the PromQL that the deploy step's alerts and dashboard use, for the tests to check it.

It reads the subset of PromQL they are written in (selectors with matchers, range vectors, functions,
aggregations with ``by``/``without``, binary operators, numbers) and fails with the position on anything
else, unbalanced brackets included. What it gives back is what the tests check against a real scrape: each
selector's metric and label matchers, and the labels each aggregation groups by.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FUNCTIONS = {"rate", "irate", "increase", "histogram_quantile", "absent", "clamp_min"}
AGGREGATIONS = {"sum", "max", "min", "avg", "count"}
BINARY = {"+", "-", "*", "/", ">", "<", ">=", "<=", "==", "!=", "and", "or", "unless"}
MATCH_OPS = {"=", "!=", "=~", "!~"}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$|^\$__(rate_)?interval$")
TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)(?![\w])"""
    r"""|(?P<range>\[[^\]]*\])|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<op>=~|!~|>=|<=|==|!=|[-+*/<>=(){},]))"""
)


class PromQLError(ValueError):
    """The expression is not valid PromQL (of the subset read here)."""


@dataclass
class Selector:
    metric: str
    matchers: list[tuple[str, str, str]]  # (label, operator, value)
    range: str = ""


@dataclass
class Parsed:
    selectors: list[Selector] = field(default_factory=list)
    groupings: list[tuple[list[str], list[Selector]]] = field(default_factory=list)  # (by labels, under it)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        found = TOKEN.match(text, position)
        if not found or found.end() == position:
            raise PromQLError(f"unexpected text at {position}: {text[position : position + 20]!r}")
        kind = found.lastgroup or ""
        tokens.append((kind, found.group(kind)))
        position = found.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.result = Parsed()

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end" or (value is not None and token[1] != value):
            raise PromQLError(f"expected {value or 'more'} at token {self.at}, found {token[1] or 'the end'!r}")
        self.at += 1
        return token

    def expression(self) -> None:
        self.operand()
        while self.peek()[1] in BINARY:
            self.take()
            if self.peek()[1] == "bool":
                self.take()
            self.operand()

    def operand(self) -> None:
        kind, value = self.peek()
        if kind == "number":
            self.take()
        elif value == "-":
            self.take()
            self.operand()
        elif value == "(":
            self.take("(")
            self.expression()
            self.take(")")
        elif kind == "name" and value in AGGREGATIONS:
            self.aggregation()
        elif kind == "name" and value in FUNCTIONS:
            self.take()
            self.arguments()
        elif kind == "name":
            self.selector()
        else:
            raise PromQLError(f"unexpected {value!r} at token {self.at}")

    def arguments(self) -> None:
        self.take("(")
        self.expression()
        while self.peek()[1] == ",":
            self.take(",")
            self.expression()
        self.take(")")

    def labels(self) -> list[str]:
        self.take("(")
        names = [self.take()[1]]
        while self.peek()[1] == ",":
            self.take(",")
            names.append(self.take()[1])
        self.take(")")
        return names

    def aggregation(self) -> None:
        self.take()
        grouping: list[str] = []
        if self.peek()[1] in ("by", "without"):
            self.take()
            grouping = self.labels()
        first = len(self.result.selectors)
        self.arguments()
        if self.peek()[1] in ("by", "without"):
            self.take()
            grouping = self.labels()
        self.result.groupings.append((grouping, self.result.selectors[first:]))

    def selector(self) -> None:
        metric = self.take()[1]
        matchers: list[tuple[str, str, str]] = []
        if self.peek()[1] == "{":
            self.take("{")
            while self.peek()[1] != "}":
                label = self.take()[1]
                operator = self.take()[1]
                kind, value = self.take()
                if operator not in MATCH_OPS or kind != "string":
                    raise PromQLError(f"bad matcher {label}{operator}{value} in {metric}")
                text = value[1:-1]
                if operator in ("=~", "!~"):
                    re.compile(text)
                matchers.append((label, operator, text))
                if self.peek()[1] == ",":
                    self.take(",")
            self.take("}")
        window = ""
        if self.peek()[0] == "range":
            window = self.take()[1][1:-1]
            if not DURATION.match(window):
                raise PromQLError(f"bad range [{window}] of {metric}")
        self.result.selectors.append(Selector(metric, matchers, window))


def parse(text: str) -> Parsed:
    """The selectors and groupings of ``text``; ``PromQLError`` when it is not PromQL of this subset."""
    parser = _Parser(text)
    parser.expression()
    if parser.peek()[0] != "end":
        raise PromQLError(f"unexpected {parser.peek()[1]!r} after the expression")
    return parser.result

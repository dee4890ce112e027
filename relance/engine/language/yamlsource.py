"""YAML with positions: every value remembers where it was written, so errors can point at it.

Scalars stay strings (the DSL parses them; pydantic coerces numbers), and `locate()` maps a
pydantic error location back to the YAML node that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from relance.grammar.ast import Span
from relance.grammar.diagnostics import Diagnostic


@dataclass(frozen=True, slots=True)
class Located:
    """A YAML document as plain data plus the node of every path in it."""

    data: Any
    nodes: dict[tuple[str | int, ...], yaml.Node]
    keys: dict[tuple[str | int, ...], yaml.Node]
    path: str
    text: str

    def span(self, loc: tuple[str | int, ...], key: bool = False) -> Span:
        """The span of the deepest node known along `loc` (the key itself when `key`)."""
        table = self.keys if key else self.nodes
        for cut in range(len(loc), -1, -1):
            node = table.get(loc[:cut]) or self.nodes.get(loc[:cut])
            if node is not None:
                return node_span(self.path, node)
        return Span(self.path, 1, 1, 1, 1)


def node_span(path: str, node: yaml.Node) -> Span:
    start, end = node.start_mark, node.end_mark
    if end.line > start.line and end.column == 0:
        return Span(path, start.line + 1, start.column + 1, start.line + 1, start.column + 2)
    return Span(path, start.line + 1, start.column + 1, end.line + 1, end.column + 1)


class YamlFailure(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def load_located(text: str, path: str) -> Located:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        column = mark.column + 1 if mark else 1
        problem = error.problem or "invalid YAML"
        hint = "check the indentation and that a `:` follows each key"
        friendly = {
            "mapping values are not allowed here": "a `key:` where none can start (the line above may be "
                                                   "indented differently, or a value holds an unquoted `: `)",
            "could not find expected ':'": "a line without `key: value`",
            "found character '\\t' that cannot start any token": "a tab character",
        }
        for jargon, words in friendly.items():
            if jargon in problem:
                problem = words
        if "tab" in problem:
            hint = "YAML indents with spaces, not tabs"
        elif "found character '@'" in problem or "found character '`'" in problem:
            hint = "put the value in quotes"
        raise YamlFailure(Diagnostic(path, line, column, line, column + 1, "E010", f"invalid YAML: {problem}",
                                     hint)) from None
    except yaml.YAMLError as error:
        raise YamlFailure(Diagnostic(path, 1, 1, 1, 1, "E010", f"invalid YAML: {error}", None)) from None
    nodes: dict[tuple[str | int, ...], yaml.Node] = {}
    keys: dict[tuple[str | int, ...], yaml.Node] = {}
    data = _convert(root, (), nodes, keys, path) if root is not None else None
    return Located(data, nodes, keys, path, text)


def _convert(node: yaml.Node, loc: tuple[str | int, ...], nodes: dict[Any, yaml.Node],
             keys: dict[Any, yaml.Node], path: str) -> Any:
    """Iterative enough for rule files: YAML nesting depth is bounded by the schema."""
    if len(loc) > 50:
        raise YamlFailure(Diagnostic.at(node_span(path, node), "E011", "YAML nested more than 50 levels deep"))
    nodes[loc] = node
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlFailure(Diagnostic.at(node_span(path, key_node), "E011", "a key must be a plain name"))
            key = key_node.value
            if key in out:
                raise YamlFailure(Diagnostic.at(node_span(path, key_node), "E012", f"`{key}` is given twice",
                                                "remove one of them"))
            keys[(*loc, key)] = key_node
            out[key] = _convert(value_node, (*loc, key), nodes, keys, path)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*loc, i), nodes, keys, path) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    if node.tag.endswith(":null") and node.style is None:
        return None
    return node.value


def scalar_origin(located: Located, loc: tuple[str | int, ...]) -> tuple[str, int, int]:
    """Text to parse for a DSL scalar and the line/column where that text starts.

    Plain and block scalars are re-read from the file, so positions inside multi-line values
    are exact (newlines are whitespace in the DSL); quoted ones start after their quote.
    """
    node = located.nodes[loc]
    assert isinstance(node, yaml.ScalarNode)
    start, end = node.start_mark, node.end_mark
    if node.style in (None, "|", ">"):
        raw = located.text[start.index:end.index]
        if node.style in ("|", ">"):
            first_break = raw.find("\n")
            if first_break == -1:
                return node.value, start.line + 1, start.column + 1
            return raw[first_break + 1:], start.line + 2, 1
        return raw, start.line + 1, start.column + 1
    if node.style == "'" and "''" in node.value:
        return node.value, start.line + 1, start.column + 2
    if node.style == '"' and "\\" in located.text[start.index:end.index]:
        return node.value, start.line + 1, start.column + 2
    return node.value, start.line + 1, start.column + 2

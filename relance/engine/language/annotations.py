"""What the checker learns of each node (type, binding, nullability, aggregate source), kept in side
tables keyed by node identity so the AST stays a pure value; both backends compile from them."""

from __future__ import annotations

from dataclasses import dataclass, field

from relance.engine.data import types as T
from relance.grammar import ast as A


@dataclass(frozen=True, slots=True)
class AggInfo:
    """How an aggregate reads its source: the collection node, then a projection path."""

    collection: A.Expr
    element: str
    projection: tuple[str, ...]
    depth: int
    """The where-scope level its elements are bound at (0 for the outermost aggregate)."""


@dataclass(slots=True)
class Annotations:
    """Side tables keyed by `id(node)`: the AST stays frozen and free of checker state."""

    types: dict[int, T.Type] = field(default_factory=dict)
    names: dict[int, tuple[str, int, str]] = field(default_factory=dict)
    """Name node -> ("root", 0, name) or ("element", level, field)."""
    aggregates: dict[int, AggInfo] = field(default_factory=dict)
    nullable: set[int] = field(default_factory=set)
    constant: set[int] = field(default_factory=set)
    custom: dict[int, str] = field(default_factory=dict)
    """Attribute node -> custom attribute name (read from `contact.attributes`)."""
    flatten: set[int] = field(default_factory=set)
    """Attribute nodes that read a list field of each element of a list (`orders.items`)."""

    def type(self, node: A.Node) -> T.Type:
        return self.types[id(node)]

    def is_nullable(self, node: A.Node) -> bool:
        return id(node) in self.nullable

"""The grammar of the rule language, shipped as package data and compiled once per process."""

from __future__ import annotations

from functools import lru_cache

from lark import Lark


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser for all start symbols; building it costs ~50 ms, so it is cached."""
    return Lark.open_from_package(
        "relance.grammar",
        "relance.lark",
        parser="lalr",
        start=["file", "expression", "reward"],
        propagate_positions=True,
        maybe_placeholders=True,
        cache=False,
    )

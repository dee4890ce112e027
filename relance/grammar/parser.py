"""Text to AST: Lark parses, a separate pass builds frozen nodes with spans.

Untrusted text is bounded before Lark sees it (size, bracket depth) and the tree's depth is
measured without recursion before the (recursive) transform, so that no input can raise a
RecursionError. Syntax errors become diagnostics in words a marketer reads.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation

from lark import Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from relance.grammar import ast as A
from relance.grammar.diagnostics import Diagnostic, did_you_mean
from relance.grammar.lalr import parser as lark_parser

MAX_SOURCE_CHARS = 1_000_000
"""A rule file larger than this is refused before parsing (1 MB is ~20,000 lines of rules)."""
MAX_DEPTH = 100
"""Deepest nesting of brackets or operators in one expression."""

DECLARATION_START = re.compile(r"^(segment|promotion)\b", re.MULTILINE)


class ParseFailure(Exception):
    """Raised with the diagnostics of text that cannot be parsed."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__(diagnostics[0].message if diagnostics else "parse failure")
        self.diagnostics = diagnostics


def parse_expression(text: str, path: str = "<expression>", line: int = 1, column: int = 1) -> A.Expr:
    """Parse one expression; `line`/`column` place it inside a larger file (YAML values)."""
    tree = _parse(text, "expression", path, line, column)
    return _transform(tree.children[0], path)  # type: ignore[return-value]


def parse_reward(text: str, path: str = "<reward>", line: int = 1, column: int = 1) -> A.Reward:
    tree = _parse(text, "reward", path, line, column)
    return _transform(tree.children[0], path)  # type: ignore[return-value]


def parse_rules(text: str, path: str = "<rules>") -> tuple[A.RulesFile, list[Diagnostic]]:
    """Parse a .rules file declaration by declaration, so one typo does not hide the others."""
    if len(text) > MAX_SOURCE_CHARS:
        return A.RulesFile((), span=A.Span(path, 1, 1, 1, 1)), [_too_large(path, len(text))]
    starts = [m.start() for m in DECLARATION_START.finditer(text)]
    if not starts or text[: starts[0]].strip() and not _only_comments(text[: starts[0]]):
        starts = [0, *starts]
    declarations: list[A.Declaration] = []
    diagnostics: list[Diagnostic] = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        chunk = text[start:end]
        if not chunk.strip() or _only_comments(chunk):
            continue
        line = text.count("\n", 0, start) + 1
        try:
            tree = _parse(chunk, "file", path, line, 1)
            node = _transform(tree, path)
        except ParseFailure as failure:
            diagnostics.extend(failure.diagnostics)
            continue
        declarations.extend(node.declarations)  # type: ignore[attr-defined]
    return A.RulesFile(tuple(declarations), span=A.Span(path, 1, 1, text.count("\n") + 1, 1)), diagnostics


def parse_clause(keyword: str, text: str, path: str, line: int, column: int) -> A.Clause:
    """One promotion clause (`limit ...`, `valid ...`, `exclude ...`) written as a YAML value.

    The text is parsed inside a dummy promotion placed on the lines above it, so positions stay
    those of the YAML file (newlines are whitespace in the language)."""
    lead = "promotion _:\n" + keyword + "\n"
    padded = "\n" * (line - 3) + lead + " " * (column - 1) + text if line >= 3 else lead + text
    tree = _parse(padded, "file", path, 1, 1)
    node = _transform(tree, path)
    return node.declarations[0].clauses[0]  # type: ignore[attr-defined, no-any-return]


def _only_comments(text: str) -> bool:
    return all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines())


def _too_large(path: str, size: int) -> Diagnostic:
    return Diagnostic(path, 1, 1, 1, 1, "E001",
                      f"this file has {size:,} characters; a rule file may have at most {MAX_SOURCE_CHARS:,}",
                      "split it into several files in the same folder")


def _parse(text: str, start: str, path: str, line: int, column: int) -> Tree:
    if len(text) > MAX_SOURCE_CHARS:
        raise ParseFailure([_too_large(path, len(text))])
    depth_error = _bracket_depth_error(text, path, line, column)
    if depth_error:
        raise ParseFailure([depth_error])
    padded = "\n" * (line - 1) + " " * (column - 1) + text
    try:
        tree = lark_parser().parse(padded, start=start)
    except UnexpectedInput as error:
        raise ParseFailure([_syntax_diagnostic(error, padded, path, start)]) from None
    deep = _tree_too_deep(tree, path)
    if deep:
        raise ParseFailure([deep])
    return tree


def _bracket_depth_error(text: str, path: str, line: int, column: int) -> Diagnostic | None:
    """Reject absurd nesting with a linear scan (strings and comments skipped)."""
    depth = 0
    in_string = escaped = in_comment = False
    for index, ch in enumerate(text):
        if in_comment:
            in_comment = ch != "\n"
        elif in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "#":
            in_comment = True
        elif ch in "([":
            depth += 1
            if depth > MAX_DEPTH:
                row = text.count("\n", 0, index)
                col = index - (text.rfind("\n", 0, index) + 1) + 1 + (column - 1 if row == 0 else 0)
                return Diagnostic(path, line + row, col, line + row, col + 1, "E002",
                                  f"brackets are nested more than {MAX_DEPTH} deep",
                                  "split the condition into segments and refer to them with `in segment`")
        elif ch in ")]":
            depth = max(0, depth - 1)
    return None


def _tree_too_deep(tree: Tree, path: str) -> Diagnostic | None:
    stack: list[tuple[Tree | Token, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Tree):
            if depth > MAX_DEPTH:
                meta = node.meta
                line = getattr(meta, "line", 1)
                col = getattr(meta, "column", 1)
                chain = node.data in ("or_op", "and_op")
                message = (f"this chain of `{node.data[:-3]}` is longer than {MAX_DEPTH} conditions" if chain
                           else f"this expression is nested more than {MAX_DEPTH} levels deep")
                hint = ("test many values at once with a list: `contact.country in [\"FR\", \"BE\"]`, "
                        "`contact.email ends with [\"@a.com\", \"@b.com\"]`; or split it into segments"
                        if chain else "split it into smaller segments and combine them with `in segment`")
                return Diagnostic(path, line, col, line, col + 1, "E002", message, hint)
            stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))
    return None


# ---- syntax errors in words ----

TERMINAL_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "STRING": 'a text in double quotes', "MONEY": "an amount like `50 EUR`",
    "PERCENT": "a percentage like `10%`", "DATE": "a date like `2026-12-24`",
    "DATETIME": "a date and time like `2026-12-24T08:00`", "DURATION": "a duration like `3 days`",
    "TIME": "a time like `08:00`", "COMPARE": "a comparison such as `==` or `>=`", "ADD": "`+` or `-`",
    "MUL": "`*` or `/`", "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "COMMA": "`,`",
    "COLON": "`:`", "DOT": "`.`", "MINUS": "`-`", "$END": "the end", "WEEKDAY": "a day (`mon` ... `sun`)",
    "PER_UNIT": "`contact`, `code`, `day`, `week` or `month`", "TRUE": "`true`", "FALSE": "`false`", "NULL": "`null`",
    "FREE": "`free`", "SHIPPING": "`shipping`", "ORDER": "`order`",
    "$NEXT": "a new declaration",
}
VALUE_STARTS = {"NAME", "NUMBER", "STRING", "MONEY", "PERCENT", "DATE", "DATETIME", "DURATION", "TRUE", "FALSE",
                "NULL", "LPAR", "LSQB", "MINUS"}
OPERATORS = {"COMPARE", "ADD", "MUL", "AND", "OR", "IN", "NOT", "STARTS", "ENDS", "CONTAINS", "DOT"}
CLAUSES = {"CODE", "WHEN", "REWARD", "EXCLUDE", "LIMIT", "VALID"}


def _keyword(name: str) -> str | None:
    try:
        pattern = lark_parser().get_terminal(name).pattern
    except KeyError:
        return None
    if pattern.type == "str":
        return f"`{pattern.value}`"
    return None


def expected_words(expected: set[str]) -> str:
    """Turn Lark's expected terminals into a phrase: 'a value', 'an operator', `)`..."""
    expected = set(expected)
    phrases: list[str] = []
    if {"SEGMENT", "PROMOTION"} <= expected:
        expected -= {"SEGMENT", "PROMOTION", "$END"}
        if expected & OPERATORS:
            expected |= {"$NEXT"}
        else:
            phrases.append("a new declaration (`segment` or `promotion`)")
    if len(expected & VALUE_STARTS) >= 4:
        phrases.append("a value (a number, an amount, a text in quotes or a name such as `cart.subtotal`)")
        expected -= VALUE_STARTS
    if len(expected & OPERATORS) >= 4:
        phrases.append("an operator (`and`, `or`, `==`, `>=`, `+`, ...)")
        expected -= OPERATORS
    if len(expected & CLAUSES) >= 4:
        phrases.append("a clause (`code`, `when`, `reward`, `exclude`, `limit` or `valid`)")
        expected -= CLAUSES
    for name in sorted(expected):
        if name in {"__ANON_0", "__ANON_1"}:
            continue
        word = TERMINAL_WORDS.get(name) or _keyword(name) or f"`{name.lower()}`"
        phrases.append(word)
    if not phrases:
        return "something else"
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


_SHOUTED = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\b(AND|OR|NOT|And|Or|Not|IN|WHERE)\b')


def _shouted_keyword(text: str, path: str) -> Diagnostic | None:
    """`AND` written in capitals: it even lexes as an amount (`1 AND`), so catch it by name."""
    for match in _SHOUTED.finditer(text):
        if match.group(1):
            word = match.group(1)
            line = text.count("\n", 0, match.start()) + 1
            column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
            return Diagnostic(path, line, column, line, column + len(word), "E100", f"unexpected `{word}`",
                              f"write `{word.lower()}` in lowercase")
    return None


def _syntax_diagnostic(error: UnexpectedInput, text: str, path: str, start: str) -> Diagnostic:
    shouted = _shouted_keyword(text, path)
    if shouted is not None:
        return shouted
    line = getattr(error, "line", 1) or 1
    column = getattr(error, "column", 1) or 1
    if isinstance(error, UnexpectedCharacters):
        char = text[error.pos_in_stream] if error.pos_in_stream < len(text) else ""
        rest = text[error.pos_in_stream: error.pos_in_stream + 3]
        hint = _character_hint(char, rest, text, error.pos_in_stream)
        message = f"unexpected character `{char}`"
        if hint is None:
            hint = "this character has no meaning here; texts go in double quotes"
        return Diagnostic(path, line, column, line, column + 1, "E100", message, hint)
    if isinstance(error, UnexpectedEOF) or (isinstance(error, UnexpectedToken) and error.token.type == "$END"):
        expected = set(getattr(error, "expected", ()) or ())
        if isinstance(error, UnexpectedToken):
            expected = set(error.accepts or error.expected)
        last_line = text.rstrip().count("\n") + 1
        last_col = len(text.rstrip().rsplit("\n", 1)[-1]) + 1
        hint = "a bracket or quote may be left open" if {"RPAR", "RSQB"} & expected else None
        return Diagnostic(path, last_line, last_col, last_line, last_col + 1, "E101",
                          f"the {'declaration' if start == 'file' else start} ends too early; expected "
                          f"{expected_words(expected)}", hint)
    assert isinstance(error, UnexpectedToken)
    token = error.token
    expected = set(error.accepts or error.expected)
    value = str(token)
    end_col = (token.end_column or column + len(value)) if token.end_line == token.line else column + len(value)
    message = f"unexpected `{value}`; expected {expected_words(expected)}"
    hint = _token_hint(token, expected)
    return Diagnostic(path, line, column, line, end_col, "E100", message, hint)


def _character_hint(char: str, rest: str, text: str, pos: int) -> str | None:
    if char == "=":
        return "to compare two values write `==`"
    if rest.startswith("&&"):
        return "write `and` to require both conditions"
    if rest.startswith("||"):
        return "write `or` to accept either condition"
    if char == "!":
        return "write `not` to negate a condition, or `!=` for 'is different from'"
    if char == "'":
        end = text.find("'", pos + 1)
        word = text[pos + 1:end] if 0 < end - pos <= 40 and "\n" not in text[pos:end] else "FR"
        return f'texts are written in double quotes: "{word}"'
    if char in "€$£":
        return "write amounts with their currency code after the number: `50 EUR`"
    if char == '"':
        return "this text has no closing quote"
    if char == "%":
        return "write a percentage right after its number, without a space: `10%`"
    return None


def _token_hint(token: Token, expected: set[str]) -> str | None:
    value = str(token)
    if token.type == "NAME":
        words = [w.strip("`") for w in (_keyword(name) for name in expected) if w]
        close = did_you_mean(value, words)
        if close:
            return close
    if token.type == "NAME" and re.fullmatch(r"[a-z]{3}", value) and "MONEY" not in expected and \
            value.upper() in _CURRENCY_GUESSES:
        return f"currency codes are written in capitals: `{value.upper()}`"
    if token.type == "NAME" and value in {"AND", "OR", "NOT", "And", "Or", "Not"}:
        return f"write `{value.lower()}` in lowercase"
    if token.type == "NAME" and value in {"is", "equals"}:
        return "to compare two values write `==`"
    if token.type == "NUMBER" and "DOT" not in expected and "COMPARE" in expected:
        return "two values follow each other: is an operator such as `==` or `and` missing?"
    if token.type in {"NAME", "STRING", "NUMBER"} and ("COMPARE" in expected or "AND" in expected):
        return "is an operator such as `==`, `and` or `or` missing before it?"
    return None


_CURRENCY_GUESSES = {"EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "CZK"}


# ---- the tree to AST pass ----


def _span(path: str, meta: object) -> A.Span | None:
    if getattr(meta, "empty", True):
        return None
    return A.Span(path, meta.line, meta.column, meta.end_line, meta.end_column)  # type: ignore[attr-defined]


def _token_span(path: str, token: Token) -> A.Span:
    return A.Span(path, token.line or 1, token.column or 1, token.end_line or token.line or 1,
                  token.end_column or (token.column or 1) + len(token))


UNITS = {"minute", "hour", "day", "week", "month", "year"}


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # the lexer only lets digits through; kept as a guard
        raise ValueError(f"not a number: {text}") from exc


def parse_datetime_token(text: str) -> tuple[dt.datetime, str | None]:
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:(Z|[+-]\d{2}:\d{2})|[ \t]+(\S+))?", text)
    if not match:
        raise ValueError(f"not a date and time: {text}")
    value = dt.datetime.fromisoformat(match.group(1))
    zone = match.group(2) or match.group(3)
    return value, zone


class _Builder(Transformer):  # type: ignore[type-arg]
    """Builds AST nodes; every method gets the Lark meta for the span."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _s(self, meta: object) -> A.Span | None:
        return _span(self.path, meta)

    # literals
    @v_args(meta=True)
    def number(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Number(_decimal(str(c[0])), span=self._s(meta))

    @v_args(meta=True)
    def percent(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Percent(_decimal(str(c[0])[:-1]), span=self._s(meta))

    @v_args(meta=True)
    def money(self, meta, c):  # type: ignore[no-untyped-def]
        amount, currency = str(c[0]).split()
        return A.MoneyLit(_decimal(amount), currency, span=self._s(meta))

    @v_args(meta=True)
    def duration(self, meta, c):  # type: ignore[no-untyped-def]
        amount, unit = str(c[0]).split()
        return A.DurationLit(int(amount), unit.removesuffix("s"), span=self._s(meta))

    @v_args(meta=True)
    def date(self, meta, c):  # type: ignore[no-untyped-def]
        try:
            value = dt.date.fromisoformat(str(c[0]))
        except ValueError:
            raise _BadLiteral(self._s(meta), f"`{c[0]}` is not a valid date", "write dates as YYYY-MM-DD") from None
        return A.DateLit(value, span=self._s(meta))

    @v_args(meta=True)
    def datetime(self, meta, c):  # type: ignore[no-untyped-def]
        try:
            value, zone = parse_datetime_token(str(c[0]))
        except ValueError:
            raise _BadLiteral(self._s(meta), f"`{c[0]}` is not a valid date and time",
                              "write YYYY-MM-DDTHH:MM, optionally followed by a time zone such as Europe/Paris") from None
        return A.DateTimeLit(value, zone, span=self._s(meta))

    @v_args(meta=True)
    def string(self, meta, c):  # type: ignore[no-untyped-def]
        return A.String(json.loads(str(c[0])), span=self._s(meta))

    @v_args(meta=True)
    def true(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Bool(True, span=self._s(meta))

    @v_args(meta=True)
    def false(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Bool(False, span=self._s(meta))

    @v_args(meta=True)
    def null(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Null(span=self._s(meta))

    @v_args(meta=True)
    def list(self, meta, c):  # type: ignore[no-untyped-def]
        return A.ListLit(tuple(x for x in c if x is not None), span=self._s(meta))

    @v_args(meta=True)
    def name(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Name(str(c[0]), span=self._s(meta))

    # operators
    @v_args(meta=True)
    def attribute(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Attribute(c[0], str(c[1]), span=self._s(meta))

    @v_args(meta=True)
    def call(self, meta, c):  # type: ignore[no-untyped-def]
        func = str(c[0])
        args = [a for a in c[1:] if a is not None]
        span = self._s(meta)
        if func in A.AGGREGATES and len(args) == 1:
            arg = args[0]
            if isinstance(arg, _WhereArg):
                return A.Aggregate(func, arg.source, arg.where, span=span)
            return A.Aggregate(func, arg, None, span=span)
        for arg in args:
            if isinstance(arg, _WhereArg):
                raise _BadLiteral(arg.span, f"`where` can only filter the collection of an aggregate like "
                                  f"`count(orders where ...)`, not an argument of `{func}`", None)
        return A.Call(func, tuple(args), span=span)

    @v_args(meta=True)
    def where_argument(self, meta, c):  # type: ignore[no-untyped-def]
        return _WhereArg(c[0], c[1], self._s(meta))

    @v_args(meta=True)
    def neg(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Negate(c[0], span=self._s(meta))

    @v_args(meta=True)
    def not_op(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Not(c[0], span=self._s(meta))

    @v_args(meta=True)
    def binop(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Binary(str(c[1]), c[0], c[2], span=self._s(meta))

    @v_args(meta=True)
    def and_op(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Logic("and", c[0], c[1], span=self._s(meta))

    @v_args(meta=True)
    def or_op(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Logic("or", c[0], c[1], span=self._s(meta))

    @v_args(meta=True)
    def compare(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Compare(str(c[1]), c[0], c[2], span=self._s(meta))

    def _cmp(op: str):  # type: ignore[no-untyped-def]
        @v_args(meta=True)
        def method(self, meta, c):  # type: ignore[no-untyped-def]
            return A.Compare(op, c[0], c[1], span=self._s(meta))
        return method

    in_op = _cmp("in")
    not_in_op = _cmp("not in")
    starts_with = _cmp("starts with")
    ends_with = _cmp("ends with")
    contains = _cmp("contains")

    @v_args(meta=True)
    def in_segment(self, meta, c):  # type: ignore[no-untyped-def]
        return A.InSegment(c[0], str(c[1]), False, span=self._s(meta))

    @v_args(meta=True)
    def not_in_segment(self, meta, c):  # type: ignore[no-untyped-def]
        return A.InSegment(c[0], str(c[1]), True, span=self._s(meta))

    # rewards
    @v_args(meta=True)
    def reward_off(self, meta, c):  # type: ignore[no-untyped-def]
        return A.RewardOff(c[0], c[1], c[2], span=self._s(meta))

    @v_args(meta=True)
    def reward_free_shipping(self, meta, c):  # type: ignore[no-untyped-def]
        return A.FreeShipping(span=self._s(meta))

    @v_args(meta=True)
    def reward_bxgy(self, meta, c):  # type: ignore[no-untyped-def]
        return A.BuyXGetY(_int(c[0], self.path), _int(c[1], self.path), c[2], c[3], c[4], span=self._s(meta))

    def bxgy_times(self, c):  # type: ignore[no-untyped-def]
        return _int(c[0], self.path)

    def bxgy_free(self, c):  # type: ignore[no-untyped-def]
        return None

    def bxgy_off(self, c):  # type: ignore[no-untyped-def]
        return c[0]

    @v_args(meta=True)
    def reward_fixed_price(self, meta, c):  # type: ignore[no-untyped-def]
        return A.FixedPrice(c[0], c[1], span=self._s(meta))

    @v_args(meta=True)
    def reward_gift(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Gift(json.loads(str(c[0])), span=self._s(meta))

    @v_args(meta=True)
    def target_order(self, meta, c):  # type: ignore[no-untyped-def]
        return A.OrderTarget(span=self._s(meta))

    @v_args(meta=True)
    def target_shipping(self, meta, c):  # type: ignore[no-untyped-def]
        return A.ShippingTarget(span=self._s(meta))

    @v_args(meta=True)
    def items_filter(self, meta, c):  # type: ignore[no-untyped-def]
        return A.ItemsTarget(c[0], span=self._s(meta))

    @v_args(meta=True)
    def each_item(self, meta, c):  # type: ignore[no-untyped-def]
        return A.ItemsTarget(c[0], each=True, span=self._s(meta))

    # declarations
    @v_args(meta=True)
    def segment_decl(self, meta, c):  # type: ignore[no-untyped-def]
        title = json.loads(str(c[1])) if c[1] is not None else None
        return A.SegmentDecl(str(c[0]), title, c[2], span=self._s(meta))

    @v_args(meta=True)
    def promotion_decl(self, meta, c):  # type: ignore[no-untyped-def]
        title = json.loads(str(c[1])) if c[1] is not None else None
        return A.PromotionDecl(str(c[0]), title, tuple(c[2:]), span=self._s(meta))

    @v_args(meta=True)
    def code_clause(self, meta, c):  # type: ignore[no-untyped-def]
        unique, value, expires = c[0]
        return A.CodeClause(unique, value, expires, span=self._s(meta))

    def code_public(self, c):  # type: ignore[no-untyped-def]
        return (False, json.loads(str(c[0])), None)

    def code_unique(self, c):  # type: ignore[no-untyped-def]
        return (True, json.loads(str(c[0])), c[1])

    def code_imported(self, c):  # type: ignore[no-untyped-def]
        return (True, "", c[0])

    def code_expiry(self, c):  # type: ignore[no-untyped-def]
        amount, unit = str(c[0]).split()
        return A.DurationLit(int(amount), unit.removesuffix("s"), span=_token_span(self.path, c[0]))

    @v_args(meta=True)
    def only_clause(self, meta, c):  # type: ignore[no-untyped-def]
        return A.OnlyClause(tuple(c), span=self._s(meta))

    @v_args(meta=True)
    def only_values(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Restriction(str(c[0]), tuple(json.loads(str(v)) for v in c[1:]), span=self._s(meta))

    @v_args(meta=True)
    def only_segment(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Restriction("segment", segment=str(c[0]), span=self._s(meta))

    @v_args(meta=True)
    def only_first_order(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Restriction("first_order", span=self._s(meta))

    @v_args(meta=True)
    def priority_clause(self, meta, c):  # type: ignore[no-untyped-def]
        return A.PriorityClause(_int(c[0], self.path), span=self._s(meta))

    @v_args(meta=True)
    def exclusive_clause(self, meta, c):  # type: ignore[no-untyped-def]
        return A.ExclusiveClause(span=self._s(meta))

    @v_args(meta=True)
    def combines_clause(self, meta, c):  # type: ignore[no-untyped-def]
        return A.CombinesClause(tuple(str(x) for x in c), span=self._s(meta))

    @v_args(meta=True)
    def base_clause(self, meta, c):  # type: ignore[no-untyped-def]
        return A.BaseClause(str(c[0]) == "before", span=self._s(meta))

    @v_args(meta=True)
    def when_clause(self, meta, c):  # type: ignore[no-untyped-def]
        return A.WhenClause(c[0], span=self._s(meta))

    @v_args(meta=True)
    def reward_clause(self, meta, c):  # type: ignore[no-untyped-def]
        return A.RewardClause(c[0], span=self._s(meta))

    @v_args(meta=True)
    def exclude_clause(self, meta, c):  # type: ignore[no-untyped-def]
        return A.ExcludeClause(c[0], span=self._s(meta))

    @v_args(meta=True)
    def limit_clause(self, meta, c):  # type: ignore[no-untyped-def]
        return A.LimitClause(tuple(c), span=self._s(meta))

    @v_args(meta=True)
    def limit_per(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Limit("per", _int(c[0], self.path), str(c[1]), period=str(c[2]) if c[2] is not None else None,
                       span=self._s(meta))

    @v_args(meta=True)
    def limit_total(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Limit("total", _int(c[0], self.path), span=self._s(meta))

    @v_args(meta=True)
    def limit_budget(self, meta, c):  # type: ignore[no-untyped-def]
        amount, currency = str(c[0]).split()
        money = A.MoneyLit(_decimal(amount), currency, span=_token_span(self.path, c[0]))
        return A.Limit("budget", budget=money, span=self._s(meta))

    @v_args(meta=True)
    def valid_clause(self, meta, c):  # type: ignore[no-untyped-def]
        return A.ValidClause(tuple(c), span=self._s(meta))

    @v_args(meta=True)
    def valid_between(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Validity("between", c[0], c[1], span=self._s(meta))

    @v_args(meta=True)
    def valid_from(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Validity("from", c[0], span=self._s(meta))

    @v_args(meta=True)
    def valid_until(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Validity("until", None, c[0], span=self._s(meta))

    @v_args(meta=True)
    def valid_days(self, meta, c):  # type: ignore[no-untyped-def]
        return A.Validity("days", days=tuple(c), span=self._s(meta))

    def day_range(self, c):  # type: ignore[no-untyped-def]
        return (str(c[0]), str(c[1] if c[1] is not None else c[0]))

    @v_args(meta=True)
    def valid_hours(self, meta, c):  # type: ignore[no-untyped-def]
        try:
            hours = (dt.time.fromisoformat(str(c[0])), dt.time.fromisoformat(str(c[1])))
        except ValueError:
            raise _BadLiteral(self._s(meta), "hours must be written HH:MM, from 00:00 to 23:59",
                              "for example `hours 08:00-20:00`") from None
        return A.Validity("hours", hours=hours, span=self._s(meta))

    @v_args(meta=True)
    def file(self, meta, c):  # type: ignore[no-untyped-def]
        return A.RulesFile(tuple(c), span=self._s(meta))


def _int(token: Token, path: str) -> int:
    text = str(token)
    if "." in text:
        raise _BadLiteral(_token_span(path, token), f"`{text}` must be a whole number", None)
    return int(text)


class _WhereArg:
    """An aggregate argument before it is folded into its Aggregate node."""

    def __init__(self, source: A.Expr, where: A.Expr, span: A.Span | None):
        self.source, self.where, self.span = source, where, span


class _BadLiteral(Exception):
    def __init__(self, span: A.Span | None, message: str, hint: str | None):
        super().__init__(message)
        self.span, self.message, self.hint = span, message, hint


def _transform(tree: Tree, path: str) -> A.Node:
    try:
        return _Builder(path).transform(tree)  # type: ignore[no-any-return]
    except VisitError as error:
        inner = error.orig_exc
        if isinstance(inner, _BadLiteral):
            raise ParseFailure([Diagnostic.at(inner.span, "E102", inner.message, inner.hint, path)]) from None
        raise

"""Diagnostics: every problem of a rule set, positioned, coded, with a hint, shown together.

A marketer reads these, so messages use business words and always say where and how to fix.
The codes are stable and documented in docs/diagnostics.md.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from relance.grammar.ast import Span


@dataclass(frozen=True, slots=True)
class Diagnostic:
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str
    message: str
    hint: str | None = None
    severity: str = "error"

    @classmethod
    def at(cls, span: Span | None, code: str, message: str, hint: str | None = None,
           path: str = "<input>") -> Diagnostic:
        if span is None:
            return cls(path, 1, 1, 1, 1, code, message, hint)
        return cls(span.path, span.line, span.column, span.end_line, span.end_column, code,
                   message, hint)

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def render(self, source: str | None = None) -> str:
        """`path:line:col: error[CODE]: message`, the source line with carets, then the hint."""
        out = [f"{self.path}:{self.line}:{self.column}: {self.severity}[{self.code}]: {self.message}"]
        if source is not None:
            lines = source.splitlines()
            if 1 <= self.line <= len(lines):
                text = lines[self.line - 1]
                shown = text if len(text) <= 200 else text[: max(self.column + 40, 200)]
                width = 1
                if self.end_line == self.line and self.end_column > self.column:
                    width = self.end_column - self.column
                width = max(1, min(width, len(shown) - self.column + 1))
                prefix = "".join("\t" if ch == "\t" else " " for ch in shown[: self.column - 1])
                out.append(f"  {self.line:>4} | {shown}")
                out.append(f"       | {prefix}{'^' * width}")
        if self.hint:
            out.append(f"  hint: {self.hint}")
        return "\n".join(out)


class RuleSetError(Exception):
    """A rule set that does not check: all its diagnostics, sorted. Nothing of it is applied."""

    def __init__(self, diagnostics: Sequence[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        self.sources = sources or {}
        count = len(self.diagnostics)
        first = self.diagnostics[0].render() if self.diagnostics else "no diagnostics"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(f"{first}{more}")

    def render(self) -> str:
        parts = [d.render(self.sources.get(d.path)) for d in self.diagnostics]
        errors = sum(1 for d in self.diagnostics if d.severity == "error")
        parts.append(f"{errors} error{'s' if errors != 1 else ''} found")
        return "\n\n".join(parts[:-1]) + "\n\n" + parts[-1]


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or None when nothing is close."""
    pool = sorted(set(candidates))
    lowered = {c.lower(): c for c in pool}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f"did you mean `{lowered[word.lower()]}`?"
    best, best_score = None, 0.0
    matcher = difflib.SequenceMatcher(b=word.lower())
    for candidate in pool:
        matcher.set_seq1(candidate.lower())
        ratio = matcher.ratio()
        if ratio < 0.6:
            continue
        prefix = len(_common_prefix(candidate.lower(), word.lower()))
        score = ratio + 0.05 * min(prefix, 4)  # typos happen late in a word more often than early
        if score > best_score:
            best, best_score = candidate, score
    return f"did you mean `{best}`?" if best else None


def _common_prefix(a: str, b: str) -> str:
    index = 0
    while index < min(len(a), len(b)) and a[index] == b[index]:
        index += 1
    return a[:index]


def one_of(candidates: Iterable[str], limit: int = 12) -> str:
    """`a`, `b` or `c` (cut after `limit`)."""
    items = [f"`{c}`" for c in sorted(set(candidates))]
    if len(items) > limit:
        items = items[:limit] + ["..."]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]

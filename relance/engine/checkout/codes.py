"""Promotion codes: patterns, unique generation, CSV files (`pools.py` stores them).

A code is stored under its key (`normalize`: NFKC, no spaces, upper case), so a customer may type
it in any case and with spaces; keys are unique across all promotions, so a code names one
promotion. Patterns such as `WELC-####-????` draw from alphabets without look-alike characters
(no 0/O, no 1/I/L) by default, since codes are read from screens and paper and typed again.

Generation is fast enough for a million codes in pure Python: random bytes are drawn in bulk,
mapped onto each alphabet by `bytes.translate` (rejecting the few bytes that would bias it) and
laid out into the codes by strided slice assignment, so no Python code runs per character.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import itertools
import math
import os
import random
import re
import secrets
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, TextIO

from relance.engine.ruleset.promotion import normalize_code as normalize

__all__ = [
    "CHARSETS", "FULL_DIGITS", "FULL_LETTERS", "UNAMBIGUOUS_DIGITS", "UNAMBIGUOUS_LETTERS",
    "CodeError", "Pattern", "generate", "normalize", "read_csv", "write_csv",
]

UTC = dt.UTC

UNAMBIGUOUS_DIGITS = "23456789"
"""`#` by default: no 0 (read as O) and no 1 (read as I or L)."""
UNAMBIGUOUS_LETTERS = "ABCDEFGHJKMNPQRSTUVWXYZ"
"""`?` by default: the 26 capitals without I, L (read as 1) and O (read as 0): 23 letters."""
FULL_DIGITS = "0123456789"
FULL_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

Charset = Literal["unambiguous", "full"]
CHARSETS: dict[str, tuple[str, str]] = {
    "unambiguous": (UNAMBIGUOUS_DIGITS, UNAMBIGUOUS_LETTERS),
    "full": (FULL_DIGITS, FULL_LETTERS),
}
"""Digits and letters of each charset; `*` draws from both (31 characters unambiguous, 36 full)."""

SLOTS = "#?*"
"""Pattern characters drawn at random: `#` a digit, `?` a letter, `*` either; all others are literal."""

MAX_ROUNDS = 64
"""Top-up rounds of `issue_codes` before giving up. Each round redraws only the codes that
collided with stored ones, so a pattern that is mostly free needs one or two rounds; needing 64
means the stored codes crowd the pattern."""

MAX_ERRORS_SHOWN = 10
COLUMNS = ("code", "contact_id", "expires_at")
"""The columns of an imported CSV file (`code` required)."""


class CodeError(ValueError):
    """Imported codes were refused: `problems` names every bad line (the message the first 10)."""

    def __init__(self, problems: Sequence[str], summary: str = "nothing was imported") -> None:
        self.problems = tuple(problems)
        shown = "\n  ".join(self.problems[:MAX_ERRORS_SHOWN])
        more = len(self.problems) - MAX_ERRORS_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"{len(self.problems)} {noun}, {summary}:\n  {shown}{tail}")


# ---- patterns ----


@dataclass(frozen=True, slots=True)
class Pattern:
    """A parsed code pattern: per character of `text`, the alphabet it is drawn from (None: literal)."""

    text: str
    charset: str
    alphabets: tuple[str | None, ...]

    @classmethod
    def parse(cls, text: str, charset: Charset | str = "unambiguous") -> Pattern:
        """Check a pattern once, so that generation never meets a pattern it cannot honour."""
        if charset not in CHARSETS:
            raise ValueError(f"unknown charset {charset!r}: use one of {', '.join(sorted(CHARSETS))}")
        digits, letters = CHARSETS[charset]
        by_slot = {"#": digits, "?": letters, "*": digits + letters}
        if not any(ch in SLOTS for ch in text):
            raise ValueError(f"the pattern {text!r} has no random part: every code would be the same; "
                             f"use # for a digit, ? for a letter, * for either, e.g. \"WELC-####-????\"")
        bad = [ch for ch in text if unicodedata.category(ch).startswith("C")]
        if bad:
            raise ValueError(f"the pattern {text!r} contains a control or invisible character ({bad[0]!r})")
        return cls(text, charset, tuple(by_slot.get(ch) for ch in text))

    @property
    def space(self) -> int:
        """How many distinct codes the pattern can make."""
        return math.prod(len(a) for a in self.alphabets if a is not None)

    @property
    def regex(self) -> re.Pattern[str]:
        """Matches the codes of the pattern as generated (and their keys, when `simple`)."""
        return re.compile("".join(re.escape(ch) if a is None else f"[{a}]" for ch, a in zip(self.text, self.alphabets, strict=True)))

    @property
    def simple(self) -> bool:
        """Whether every code is its own key (ASCII literals, no spaces, no lower case): no
        normalisation is needed then, which keeps a million codes fast."""
        literals = "".join(ch for ch, a in zip(self.text, self.alphabets, strict=True) if a is None)
        return literals.isascii() and normalize(literals) == literals

    def random(self, rng: random.Random | None = None) -> str:
        """One code (possibly one already issued: `generate` is what makes them distinct)."""
        rng = rng or secrets.SystemRandom()
        return "".join(ch if a is None else rng.choice(a) for ch, a in zip(self.text, self.alphabets, strict=True))

    def __str__(self) -> str:
        return self.text


def as_pattern(pattern: Pattern | str) -> Pattern:
    return pattern if isinstance(pattern, Pattern) else Pattern.parse(pattern)


@functools.lru_cache(maxsize=16)
def _translation(alphabet: str) -> tuple[bytes, bytes]:
    """A byte-to-character table and the bytes to drop: bytes >= 256 - 256 % n would favour the
    first characters of the alphabet, so they are rejected rather than folded."""
    n = len(alphabet)
    limit = 256 - 256 % n
    table_ = bytes(ord(alphabet[b % n]) for b in range(256))
    return table_, bytes(range(limit, 256))


def _characters(alphabet: str, k: int, rng: random.Random) -> bytes:
    """`k` characters of `alphabet`, uniformly and independently drawn, as ASCII bytes."""
    table_, rejected = _translation(alphabet)
    keep = 256 - len(rejected)
    parts: list[bytes] = []
    have = 0
    while have < k:
        need = k - have
        drawn = rng.randbytes(need * 256 // keep + 64).translate(table_, rejected)
        parts.append(drawn)
        have += len(drawn)
    return b"".join(parts)[:k]


def _draw(pattern: Pattern, n: int, rng: random.Random) -> list[str]:
    """`n` random codes (duplicates possible), a column of random characters at a time."""
    if n <= 0:
        return []
    template = bytearray()
    slots: dict[str, list[int]] = {}
    for ch, alphabet in zip(pattern.text, pattern.alphabets, strict=True):
        if alphabet is None:
            template += ch.encode()
        else:
            slots.setdefault(alphabet, []).append(len(template))
            template += b"_"
    template += b"\n"  # control characters are refused in patterns: a safe separator
    stride = len(template)
    out = template * n
    for alphabet, positions in slots.items():
        stream = memoryview(_characters(alphabet, n * len(positions), rng))
        for j, position in enumerate(positions):
            out[position::stride] = stream[j * n:(j + 1) * n]
    codes_ = out.decode().split("\n")
    codes_.pop()
    return codes_


def check_room(pattern: Pattern, count: int, used: int) -> None:
    """Refuse to draw more than half of what is left, so that drawing ends quickly (each draw is
    then new at least one time in two) instead of looping on a full pattern."""
    if count < 0:
        raise ValueError(f"cannot generate a negative number of codes ({count})")
    limit = max(pattern.space - used, 0) // 2
    if count > limit:
        raise ValueError(f"cannot generate {count:,} codes from \"{pattern.text}\": it makes {pattern.space:,} codes, "
                         f"{used:,} of them already taken, and at most half of the rest ({limit:,}) can be drawn "
                         "safely; use a longer pattern")


def draw_fresh(pattern: Pattern, count: int, rng: random.Random, taken: Collection[str], used: int) -> dict[str, str]:
    """`count` new codes, key to code in draw order, whose keys are not in `taken` (`used` of the
    pattern's space, for the check and the batch sizes)."""
    check_room(pattern, count, used)
    found: dict[str, str] = {}
    while len(found) < count:
        missing = count - len(found)
        free = pattern.space - used - len(found)
        size = min(math.ceil(missing * pattern.space / free * 1.05) + 16, 4 * missing + 1024)
        drawn = _draw(pattern, size, rng)
        keys = drawn if pattern.simple else [normalize(c) for c in drawn]
        batch = dict(zip(keys, drawn, strict=True))
        if taken or found:
            batch = {k: c for k, c in batch.items() if k not in taken and k not in found}
        found.update(itertools.islice(batch.items(), missing))
    return found


def generate(pattern: Pattern | str, count: int, rng: random.Random | None = None,
             taken: Iterable[str] = frozenset()) -> list[str]:
    """`count` distinct codes of `pattern`, none equal to a code of `taken` once normalised.

    Cryptographic randomness by default (codes are worth money and must not be guessed from one
    another); pass `random.Random(seed)` for reproducible codes. Refuses (ValueError) when `count`
    exceeds half of the codes left by `taken`."""
    pattern = as_pattern(pattern)
    keys = {normalize(t) for t in taken}
    if pattern.simple:
        regex = pattern.regex
        used = sum(1 for k in keys if regex.fullmatch(k))
    else:
        used = len(keys)  # cannot tell cheaply which keys the pattern makes: count them all (safe side)
    return list(draw_fresh(pattern, count, rng or secrets.SystemRandom(), keys, used).values())


# ---- files ----


def write_csv(codes: Iterable[str], path_or_file: str | os.PathLike[str] | TextIO) -> int:
    """Write codes as a CSV file with a `code` header (what `import_codes` and mailing tools read);
    how many were written."""
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, "w", encoding="utf-8", newline="") as handle:
            return write_csv(codes, handle)
    writer = csv.writer(path_or_file, lineterminator="\n")
    writer.writerow(["code"])
    written = 0
    for chunk in _chunks(codes, 10_000):
        writer.writerows([c] for c in chunk)
        written += len(chunk)
    return written


def _chunks(values: Iterable[str], size: int) -> Iterator[tuple[str, ...]]:
    it = iter(values)
    while chunk := tuple(itertools.islice(it, size)):
        yield chunk


def read_csv(path_or_file: str | os.PathLike[str] | TextIO) -> Iterator[dict[str, str | None]]:
    """The rows of a CSV file of codes for `import_codes`, one per line after the header so that
    line numbers stay right (a blank line is an empty row); headers are trimmed and lower-cased,
    and a spreadsheet's byte order mark is dropped."""
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, encoding="utf-8-sig", newline="") as handle:
            yield from read_csv(handle)
        return
    reader = csv.reader(path_or_file)
    header = next(reader, None)
    if header is None:
        return
    names = [h.strip().lstrip("\ufeff").lower() for h in header]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:  # named on the header's line, not on the first row's
        raise CodeError([f"line 1: unknown column {n!r} (expected {', '.join(COLUMNS)})" for n in unknown])
    for record in reader:
        row: dict[str, str | None] = dict(itertools.zip_longest(names, record[:len(names)]))
        if len(record) > len(names):
            row[None] = ",".join(record[len(names):])  # type: ignore[index]
        yield row

"""Promotion codes: look-up keys, patterns, distinct generation, issuing and importing (SQLite and
PostgreSQL), look-up and CSV files."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import string
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import pg_database
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, select

from relance.engine.checkout.codes import (
    CHARSETS,
    FULL_DIGITS,
    FULL_LETTERS,
    UNAMBIGUOUS_DIGITS,
    UNAMBIGUOUS_LETTERS,
    CodeError,
    Pattern,
    generate,
    normalize,
    read_csv,
    write_csv,
)
from relance.engine.checkout.pools import find_code, import_codes, issue_codes
from relance.engine.ruleset.promotion import normalize_code
from relance.engine.store.connection import connect
from relance.engine.store.migrate import create_schema
from relance.engine.store.tables import codes

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
PARIS = ZoneInfo("Europe/Paris")
CODE_CHARS = string.ascii_letters + string.digits + " -_./#\t" + "éèàçÉÈÀÇœŒäÄß"
"""What customers and marketers really type: case-insensitivity is promised for these."""


def pattern_regex(text: str, charset: str = "unambiguous") -> re.Pattern[str]:
    """The codes a pattern may make, written independently of the module."""
    digits, letters = {"unambiguous": ("2-9", "A-HJKMNP-Z"), "full": ("0-9", "A-Z")}[charset]
    slots = {"#": f"[{digits}]", "?": f"[{letters}]", "*": f"[{digits}{letters}]"}
    return re.compile("".join(slots.get(ch, re.escape(ch)) for ch in text))


# ---- normalize ----


@pytest.mark.parametrize("typed, key", [
    (" welc-2345-abcd ", "WELC-2345-ABCD"),
    ("welc 2345\tab cd\n", "WELC2345ABCD"),
    ("ＷＥＬＣ－２３", "WELC-23"),  # full-width forms
    ("welc\u00a0\u202f23", "WELC23"),  # non-breaking spaces
    ("\ufeffso\u200bcial\u200d", "SOCIAL"),  # invisible characters pasted from an e-mail
    ("e\u0301te\u0301", "ÉTÉ"),  # decomposed accents
    ("\u0390", "\u03aa\u0301"),  # upper case decomposes ΐ: composed again
])
def test_normalize_examples(typed: str, key: str) -> None:
    assert normalize(typed) == key


@given(st.text())
def test_normalize_is_idempotent_and_has_no_white_space(text: str) -> None:
    key = normalize(text)
    assert normalize(key) == key
    assert not any(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in key)


@given(st.text(alphabet=CODE_CHARS))
def test_normalize_ignores_case_and_agrees_with_the_checkout(text: str) -> None:
    key = normalize(text)
    assert normalize(text.lower()) == normalize(text.upper()) == normalize(text.swapcase()) == key
    assert normalize_code(text) == key  # public codes are looked up with the checkout's function


# ---- patterns ----


def test_the_unambiguous_charset_has_no_look_alike_characters() -> None:
    for alphabet in (UNAMBIGUOUS_DIGITS, UNAMBIGUOUS_LETTERS):
        assert not set(alphabet) & set("01OIL")
        assert len(set(alphabet)) == len(alphabet)
    assert set(UNAMBIGUOUS_DIGITS) <= set(string.digits) and len(UNAMBIGUOUS_DIGITS) == 8
    assert set(UNAMBIGUOUS_LETTERS) <= set(string.ascii_uppercase) and len(UNAMBIGUOUS_LETTERS) == 23
    assert (string.digits, string.ascii_uppercase) == (FULL_DIGITS, FULL_LETTERS)
    assert CHARSETS["unambiguous"] == (UNAMBIGUOUS_DIGITS, UNAMBIGUOUS_LETTERS)


@pytest.mark.parametrize("text, charset, space", [
    ("WELC-####-????", "unambiguous", 8**4 * 23**4),
    ("WELC-####-????", "full", 10**4 * 26**4),
    ("*", "unambiguous", 31),
    ("*", "full", 36),
    ("A##", "unambiguous", 64),
    ("#?*", "unambiguous", 8 * 23 * 31),
])
def test_pattern_space(text: str, charset: str, space: int) -> None:
    pattern = Pattern.parse(text, charset)
    assert pattern.space == space and pattern.text == text and str(pattern) == text


@pytest.mark.parametrize("text, charset, message", [
    ("WELCOME", "unambiguous", "no random part"),
    ("", "unambiguous", "no random part"),
    ("AB\n##", "unambiguous", "control"),
    ("AB\u200b##", "unambiguous", "invisible"),
    ("####", "hex", "unknown charset"),
])
def test_pattern_errors(text: str, charset: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Pattern.parse(text, charset)


@pytest.mark.parametrize("charset", ["unambiguous", "full"])
def test_one_random_code_matches_its_pattern(charset: str) -> None:
    pattern = Pattern.parse("WELC-####-????-**", charset)
    rng = random.Random(4)
    assert all(pattern_regex(pattern.text, charset).fullmatch(pattern.random(rng)) for _ in range(200))
    assert pattern_regex(pattern.text, charset).fullmatch(pattern.random())


# ---- generate ----


@pytest.mark.parametrize("text", ["WELC-####-????", "***", "#?#?-X", "welc ##??", "Été-##?", "A\\B-##??"])
@pytest.mark.parametrize("charset", ["unambiguous", "full"])
def test_generated_codes_match_the_pattern_and_are_distinct(text: str, charset: str) -> None:
    pattern = Pattern.parse(text, charset)
    generated = generate(pattern, 500, random.Random(1))
    regex = pattern_regex(text, charset)
    assert len(generated) == 500
    assert all(regex.fullmatch(code) for code in generated)
    assert len({normalize(code) for code in generated}) == 500


@settings(max_examples=60, deadline=None)
@given(pieces=st.lists(st.sampled_from(["#", "?", "*", "-", "A", "x", " ", "é"]), min_size=1, max_size=7),
       charset=st.sampled_from(["unambiguous", "full"]), seed=st.integers(0, 2**32), data=st.data())
def test_generate_makes_count_distinct_codes_of_any_pattern(pieces: list[str], charset: str, seed: int,
                                                            data: st.DataObject) -> None:
    text = "".join(pieces)
    if not any(ch in "#?*" for ch in text):
        with pytest.raises(ValueError, match="no random part"):
            Pattern.parse(text, charset)
        return
    pattern = Pattern.parse(text, charset)
    count = data.draw(st.integers(0, min(pattern.space // 2, 300)), label="count")
    generated = generate(pattern, count, random.Random(seed))
    assert len(generated) == count == len({normalize(c) for c in generated})
    assert all(pattern_regex(text, charset).fullmatch(c) for c in generated)


def test_generation_is_reproducible_with_a_seed_and_secure_by_default() -> None:
    assert generate("WELC-####-????", 100, random.Random(3)) == generate("WELC-####-????", 100, random.Random(3))
    assert generate("WELC-####-????", 100, random.Random(3)) != generate("WELC-####-????", 100, random.Random(4))
    default = generate("WELC-####-????", 50)
    assert len(set(default)) == 50 and all(pattern_regex("WELC-####-????").fullmatch(c) for c in default)


@pytest.mark.parametrize("charset", ["unambiguous", "full"])
def test_every_character_of_the_alphabet_is_drawn_at_every_position(charset: str) -> None:
    digits, letters = CHARSETS[charset]
    generated = generate(Pattern.parse("*#?", charset), 2000, random.Random(2))
    assert {c[0] for c in generated} == set(digits + letters)
    assert {c[1] for c in generated} == set(digits)
    assert {c[2] for c in generated} == set(letters)


def test_taken_codes_are_never_generated_whatever_their_case() -> None:
    pattern = Pattern.parse("a##")  # codes "a23"; keys "A23"
    every = [f"A{x}{y}" for x in UNAMBIGUOUS_DIGITS for y in UNAMBIGUOUS_DIGITS]
    taken = [c.lower() for c in every[:20]] + ["  " + every[20] + " "]
    generated = generate(pattern, 21, random.Random(5), taken=taken)
    assert len(generated) == 21 == len(set(generated))
    assert not {normalize(c) for c in generated} & {normalize(t) for t in taken}


def test_too_many_codes_are_refused_with_the_numbers() -> None:
    assert len(set(generate("A##", 32, random.Random(1)))) == 32  # half of the 64 codes
    with pytest.raises(ValueError, match=r"33 codes .*64 codes, 0 of them already taken.* \(32\)"):
        generate("A##", 33)
    taken = ["A22", "A23", "a24", "A25", "A26", "A27", "A28", "A29", "A32", "A33"]
    with pytest.raises(ValueError, match=r"28 codes .*10 of them already taken.* \(27\)"):
        generate("A##", 28, taken=taken)
    assert len(generate("A##", 27, random.Random(1), taken=taken + ["OTHER-1", "B22"])) == 27  # others do not count
    with pytest.raises(ValueError, match="negative"):
        generate("A##", -1)
    assert generate("A##", 0) == []


# ---- the store ----


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh store: a SQLite file, or a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        engine_ = connect(f"sqlite:///{tmp_path / 'codes.db'}")
        create_schema(engine_)
        yield engine_
        engine_.dispose()
        return
    with pg_database() as url:
        engine_ = connect(url)
        create_schema(engine_)
        yield engine_
        engine_.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine_ = connect(f"sqlite:///{tmp_path / 'codes.db'}")
    create_schema(engine_)
    yield engine_
    engine_.dispose()


def stored(engine: Engine, promotion: str | None = None) -> dict[str, Any]:
    """code_key -> row."""
    query = select(codes)
    if promotion is not None:
        query = query.where(codes.c.promotion == promotion)
    with engine.connect() as conn:
        return {row.code_key: row for row in conn.execute(query)}


def store_codes(engine: Engine, promotion: str, keys: list[str]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(codes), [{"code_key": k, "code": k, "promotion": promotion, "issued_at": NOW}
                                     for k in keys])


def raw_datetimes(engine: Engine, key: str) -> tuple[Any, Any]:
    """What the database holds, without SQLAlchemy's conversions."""
    with engine.connect() as conn:
        return tuple(conn.exec_driver_sql(  # type: ignore[return-value]
            f"SELECT issued_at, expires_at FROM codes WHERE code_key = '{key}'").one())


def test_issue_codes_stores_count_distinct_codes(engine: Engine) -> None:
    expires = dt.datetime(2026, 6, 30, 23, 59, 59, tzinfo=PARIS)
    issued = issue_codes(engine, "welcome", "WELC-####-????", 300, NOW, expires_at=expires, batch="march",
                         rng=random.Random(1))
    assert len(issued) == 300 == len(set(issued))
    rows = stored(engine, "welcome")
    assert set(rows) == {normalize(c) for c in issued}
    row = rows[issued[0]]
    assert (row.code, row.contact_id, row.batch) == (issued[0], None, "march")
    assert row.issued_at == NOW and row.expires_at == expires and row.expires_at.tzinfo is not None
    # the bulk path stores date-times exactly as SQLAlchemy does
    store_codes(engine, "reference", ["REF"])
    with engine.begin() as conn:
        conn.execute(codes.update().where(codes.c.code_key == "REF").values(expires_at=expires))
    assert raw_datetimes(engine, issued[0]) == raw_datetimes(engine, "REF")
    assert issue_codes(engine, "welcome", "WELC-####-????", 0, NOW) == []


def test_issue_codes_replaces_the_codes_already_stored_for_any_promotion(engine: Engine) -> None:
    every = [f"A{x}{y}" for x in UNAMBIGUOUS_DIGITS for y in UNAMBIGUOUS_DIGITS]
    taken = every[::4]  # 16 of the 64 codes, for another promotion
    store_codes(engine, "other", taken)
    first_draw = generate("A##", 30, random.Random(11))
    assert set(first_draw) & set(taken), "the test must force collisions"
    issued = issue_codes(engine, "welcome", "A##", 30, NOW, rng=random.Random(11))
    assert len(issued) == 30 == len(set(issued))
    assert not set(issued) & set(taken)
    assert set(stored(engine, "welcome")) == set(issued)
    assert set(stored(engine, "other")) == set(taken)
    again = issue_codes(engine, "welcome", "A##", 8, NOW, rng=random.Random(11))  # 18 codes left: room for 8
    assert len(set(again)) == 8 and not set(again) & (set(issued) | set(taken))


def test_issue_codes_refuses_a_full_pattern_and_stores_nothing(engine: Engine) -> None:
    store_codes(engine, "other", [f"A{x}" for x in UNAMBIGUOUS_DIGITS])  # all 8 codes of "A#"
    with pytest.raises(ValueError, match="too little room"):
        issue_codes(engine, "welcome", "A#", 2, NOW, rng=random.Random(1))
    assert stored(engine, "welcome") == {}
    assert issue_codes(engine, "welcome", "B##", 31, NOW, rng=random.Random(1))  # the connection is still sound
    assert len(stored(engine, "welcome")) == 31


def test_issue_codes_counts_the_promotion_s_codes_already_issued(sqlite_engine: Engine) -> None:
    """`T#` makes 8 codes: after 4, at most half of the 4 left can be drawn safely."""
    assert len(issue_codes(sqlite_engine, "welcome", "T#", 4, NOW, rng=random.Random(1))) == 4
    with pytest.raises(ValueError, match="it makes 8 codes, 4 of them already taken, and at most half of the rest "
                                         r"\(2\) can be drawn"):
        issue_codes(sqlite_engine, "welcome", "T#", 3, NOW, rng=random.Random(1))
    assert len(issue_codes(sqlite_engine, "welcome", "T#", 2, NOW, rng=random.Random(1))) == 2


def test_issue_codes_checks_its_arguments(sqlite_engine: Engine) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        issue_codes(sqlite_engine, "welcome", "A##", 1, dt.datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        issue_codes(sqlite_engine, "welcome", "A##", 1, NOW, expires_at=dt.datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="expire"):
        issue_codes(sqlite_engine, "welcome", "A##", 1, NOW, expires_at=NOW - dt.timedelta(days=1))
    with pytest.raises(ValueError, match="at most half"):
        issue_codes(sqlite_engine, "welcome", "A##", 33, NOW)
    with pytest.raises(ValueError, match="no random part"):
        issue_codes(sqlite_engine, "welcome", "WELCOME", 1, NOW)
    assert stored(sqlite_engine) == {}


def test_find_code_ignores_case_and_spaces(engine: Engine) -> None:
    [code] = issue_codes(engine, "support", "SUP-####", 1, NOW, contact_id="c42", rng=random.Random(2))
    with engine.connect() as conn:
        found = find_code(conn, "  " + code.lower().replace("-", " - ") + " ")
        assert found is not None
        assert (found.code, found.code_key, found.promotion, found.contact_id) == (code, code, "support", "c42")
        assert found.issued_at == NOW and found.expires_at is None
        assert find_code(conn, "SUP-0000") is None and find_code(conn, "   ") is None


# ---- imports ----


def test_import_codes_stores_the_file(engine: Engine) -> None:
    rows = [
        {"code": " Summer Sale ", "contact_id": "", "expires_at": ""},
        {"code": "vip-1", "contact_id": "c1", "expires_at": "2026-12-31T23:59:59"},  # read in Europe/Paris
        {"code": "VIP-2", "contact_id": " c2 ", "expires_at": "2026-12-31T23:59:59+00:00"},
        {"code": None, "contact_id": None, "expires_at": None},  # a blank line
        {"code": "Été-3"},
    ]
    assert import_codes(engine, "summer", rows, NOW, tz=PARIS, batch="file.csv") == 4
    with engine.connect() as conn:
        sale = find_code(conn, "summersale")
        assert sale is not None and (sale.code, sale.code_key, sale.contact_id) == ("Summer Sale", "SUMMERSALE", None)
        vip = find_code(conn, "Vip-1")
        assert vip is not None and vip.contact_id == "c1"
        assert vip.expires_at == dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=PARIS)
        vip2 = find_code(conn, "vip-2")
        assert vip2 is not None and vip2.contact_id == "c2"
        assert vip2.expires_at == dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
        accented = find_code(conn, "été-3")
        assert accented is not None and accented.code == "Été-3"
    assert {row.batch for row in stored(engine).values()} == {"file.csv"}
    store_codes(engine, "reference", ["REF"])
    with engine.begin() as conn:
        conn.execute(codes.update().where(codes.c.code_key == "REF")
                     .values(expires_at=dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=PARIS)))
    assert raw_datetimes(engine, "VIP-1") == raw_datetimes(engine, "REF")
    assert import_codes(engine, "summer", [], NOW) == 0


def test_import_refuses_the_whole_file_for_a_repeated_code(engine: Engine) -> None:
    issued = issue_codes(engine, "welcome", "WELC-####", 3, NOW, rng=random.Random(3))
    inside = [{"code": "NEW-1"}, {"code": "dup a"}, {"code": "NEW-2"}, {"code": "DUPA"}]
    with pytest.raises(CodeError, match="line 5: DUPA repeats line 3") as refused:
        import_codes(engine, "summer", inside, NOW)
    assert len(refused.value.problems) == 1 and "nothing was imported" in str(refused.value)
    already = [{"code": "NEW-1"}, {"code": issued[1].lower()}, {"code": "NEW-2"}, {"code": f" {issued[0]} "}]
    with pytest.raises(CodeError) as refused:
        import_codes(engine, "summer", already, NOW)
    assert refused.value.problems == (f"line 3: {issued[1].lower()} is already stored (promotion welcome)",
                                      f"line 5: {issued[0]} is already stored (promotion welcome)")
    assert stored(engine, "summer") == {}
    assert import_codes(engine, "summer", [{"code": "NEW-1"}], NOW) == 1  # the connection is still sound


def test_import_names_every_bad_line_and_shows_ten(sqlite_engine: Engine) -> None:
    rows: list[dict[str, str | None]] = [
        {"code": " ", "contact_id": "c9"},
        {"code": "A", "expires_at": "next week"},
        {"code": "B", "expires_at": "2026-12-31"},
        {"code": "C", "expires_at": "2025-01-01T00:00:00Z"},
        {"code": "D", "expires": "2026-12-31T00:00"},
        {"code": "E\x07"},
    ] + [{"code": f"X{i}"} for i in range(3)] + [{"code": f"x{i}"} for i in range(3)] + [{"code": "X0"}]
    with pytest.raises(CodeError) as refused:
        import_codes(sqlite_engine, "summer", rows, NOW)
    problems = refused.value.problems
    assert problems[:6] == (
        "line 2: no code",
        "line 3: expires_at 'next week' is not an ISO date-time (2026-12-31T23:59:59+01:00)",
        ("line 4: expires_at '2026-12-31' has no time of day: write 2026-12-31T23:59:59 to keep the code until the "
         "end of that day"),
        "line 5: expires_at 2025-01-01T00:00:00Z is already past",
        "line 6: unknown column 'expires' (expected code, contact_id, expires_at)",
        "line 7: the code 'E\\x07' contains a control character",
    )
    assert problems[6:] == ("line 11: x0 repeats line 8 (codes ignore case and spaces)",
                            "line 12: x1 repeats line 9 (codes ignore case and spaces)",
                            "line 13: x2 repeats line 10 (codes ignore case and spaces)",
                            "line 14: X0 repeats line 8 (codes ignore case and spaces)")
    message = str(refused.value)
    assert message.startswith("10 problems, nothing was imported:") and "line 14" in message
    with pytest.raises(CodeError, match=r"(?s)12 problems.*\n  \.\.\. and 2 more$"):
        import_codes(sqlite_engine, "summer", rows + [{"code": "X1"}, {"code": "X2"}], NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        import_codes(sqlite_engine, "summer", [{"code": "A"}], dt.datetime(2026, 3, 1))
    assert stored(sqlite_engine) == {}


# ---- files ----


def test_csv_files_round_trip_into_an_import(tmp_path: Path, sqlite_engine: Engine) -> None:
    generated = generate("WELC-####-????", 25, random.Random(6))
    path = tmp_path / "codes.csv"
    assert write_csv(generated, path) == 25
    with path.open(newline="") as handle:
        assert list(csv.reader(handle)) == [["code"]] + [[c] for c in generated]
    assert import_codes(sqlite_engine, "welcome", read_csv(path), NOW) == 25
    buffer = io.StringIO()
    assert write_csv(iter(["A,B", 'say "hi"']), buffer) == 2
    assert buffer.getvalue() == 'code\n"A,B"\n"say ""hi"""\n'


def test_read_csv_keeps_line_numbers_for_the_errors(tmp_path: Path, sqlite_engine: Engine) -> None:
    path = tmp_path / "codes.csv"
    path.write_text("\ufeff Code ,Contact_ID\nSUMMER-1,c1\n\nsummer-1,c2\nEXTRA,c3,oops\n", encoding="utf-8")
    rows = list(read_csv(path))
    assert rows[0] == {"code": "SUMMER-1", "contact_id": "c1"}
    with pytest.raises(CodeError) as refused:
        import_codes(sqlite_engine, "summer", rows, NOW)
    assert refused.value.problems == ("line 4: summer-1 repeats line 2 (codes ignore case and spaces)",
                                      "line 5: more values than columns")
    assert list(read_csv(io.StringIO(""))) == []
    with pytest.raises(CodeError) as refused:
        list(read_csv(io.StringIO("codigo,contact_id\nSUMMER-1,c1\n")))
    assert refused.value.problems == ("line 1: unknown column 'codigo' (expected code, contact_id, expires_at)",)

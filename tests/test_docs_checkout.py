"""Every example in docs/checkout.md is executed here, in the order of the page.

How a page runs (the simplest thing that keeps the page readable and its examples honest):

1. Its fenced blocks with a `file=PATH` option (```relance-rules file=shop/promotions.rules,
   ```yaml relance-test file=shop/checkout.test.yaml, ```relance-error file=broken/...) are written
   into a fresh folder, the page's workspace, before anything runs. So the page shows each rule
   file once, where it is explained, and the Python examples load the folders by their relative
   names (`relance.Engine("shop")`), exactly as a reader who saved those files would.
2. The workspace becomes the current directory, `RELANCE_STORE` is unset (so the page's SQLite
   store is a file of the workspace), and the blocks run in the order of the page: every
   ```python block is executed in one namespace shared by the whole page (an example may use
   what an earlier one defined), and every ```console relance-cli block is a transcript whose
   `$ relance ...` commands must print what the page shows (a line `...` stands for any lines;
   a `...` inside a line stands for any text, such as the time a command took).
   The Python source is compiled with the page's line numbers, so a failing `assert` points at
   its line in docs/checkout.md.

The files are checked on their own too: each folder of the workspace must load without a
diagnostic, unless it holds a `relance-error` file, which must be refused with exactly the codes
of its last line (`# error E100`); each `relance-test` file must pass. Blocks without a
`relance...` word and other than ```python (```text, ```console, plain ```yaml) are
illustrations and are not run.

The last test backs the page's concurrency section: racing redemptions of the last use of a
code, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_docs import _transcript

import relance
from relance.cli import cli
from relance.engine.checkout.results import REASONS
from relance.engine.testing.runner import run_one

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "checkout.md"

FENCE = re.compile(r"^(`{3,}|~{3,})\s*(.*?)\s*$")
ERROR = re.compile(r"^#\s*error\s+(E\d{3}(?:\s*,\s*E\d{3})*)\s*$")
KINDS = ("relance-rules", "relance-error", "relance-test", "relance-cli")

MIN_PYTHON_BLOCKS = 20
MIN_ASSERTS = 80
"""The page must never pass vacuously: at least this many runnable blocks and `assert` lines."""


@dataclass(frozen=True)
class Block:
    line: int
    """1-based line of the first line inside the fence."""
    lang: str
    kind: str | None
    attrs: dict[str, str]
    text: str

    @property
    def where(self) -> str:
        return f"{DOC.name} line {self.line}"


def parse_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        marker, info = fence.group(1), fence.group(2)
        start = index + 1
        index += 1
        while index < len(lines) and not (lines[index].startswith(marker[0] * len(marker))
                                          and not lines[index].strip(marker[0]).strip()):
            index += 1
        assert index < len(lines), f"{path.name} line {start}: a block is never closed"
        words = info.split()
        kinds = [w for w in words if w.startswith("relance")]
        assert len(kinds) <= 1, f"{path.name} line {start}: a block has two kinds: {info}"
        attrs = dict(w.split("=", 1) for w in words if "=" in w)
        lang = words[0] if words and "=" not in words[0] and not words[0].startswith("relance") else ""
        blocks.append(Block(start + 1, lang, kinds[0] if kinds else None, attrs,
                            "\n".join(lines[start:index]) + "\n"))
        index += 1
    return blocks


BLOCKS = parse_blocks(DOC) if DOC.is_file() else []
FILES = [b for b in BLOCKS if "file" in b.attrs]


def write_workspace(folder: Path) -> None:
    seen: set[str] = set()
    for block in FILES:
        name = block.attrs["file"]
        assert name not in seen, f"{block.where}: `file={name}` is given twice"
        seen.add(name)
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text, encoding="utf-8")


def folders() -> list[str]:
    return sorted({Path(b.attrs["file"]).parts[0] for b in FILES if len(Path(b.attrs["file"]).parts) > 1})


def explain(error: relance.RuleSetError) -> str:
    return "\n".join(f"  {d.path}:{d.line}:{d.column} {d.code} {d.message}" for d in error.diagnostics)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RELANCE_STORE", raising=False)
    return tmp_path


# ---- the page ----


def test_the_page_exists_and_is_not_vacuous() -> None:
    assert DOC.is_file(), "docs/checkout.md is missing"
    python = [b for b in BLOCKS if b.lang == "python"]
    assert len(python) >= MIN_PYTHON_BLOCKS, f"only {len(python)} Python examples"
    asserts = sum(1 for b in python for line in b.text.splitlines() if line.lstrip().startswith("assert "))
    assert asserts >= MIN_ASSERTS, f"only {asserts} assert lines in the Python examples"
    for block in BLOCKS:
        assert block.kind is None or block.kind in KINDS, f"{block.where}: unknown block kind {block.kind}"
        assert set(block.attrs) <= {"file"}, f"{block.where}: unknown option(s) {sorted(set(block.attrs) - {'file'})}"
        if block.kind in ("relance-rules", "relance-error", "relance-test"):
            assert "file" in block.attrs, f"{block.where}: a {block.kind} block needs `file=FOLDER/NAME`"


def test_every_refusal_reason_is_in_the_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.MULTILINE))
    missing = sorted(set(REASONS) - rows)
    assert not missing, f"checkout.md has no row in its reasons table for: {missing}"
    unknown = sorted(r for r in rows if r.endswith(("_code", "_reached", "_met", "_applied", "_required"))
                     and r not in REASONS)
    assert not unknown, f"checkout.md documents reasons relance does not have: {unknown}"


def test_every_command_shown_exists() -> None:
    """The page names only commands that `relance --help` lists (never an invented one)."""
    text = DOC.read_text(encoding="utf-8")
    for words in re.findall(r"`relance ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", text):
        name, _, sub = words.partition(" ")
        assert name in cli.commands, f"checkout.md names `relance {name}`, which does not exist"
        group = cli.commands[name]
        if sub and hasattr(group, "commands"):
            assert sub in group.commands, f"checkout.md names `relance {words}`, which does not exist"


def test_the_rule_folders_load(tmp_path: Path) -> None:
    write_workspace(tmp_path)
    assert folders(), "checkout.md shows no rule files (`file=FOLDER/NAME` blocks)"
    for folder in folders():
        blocks = [b for b in FILES if Path(b.attrs["file"]).parts[0] == folder]
        errors = [b for b in blocks if b.kind == "relance-error"]
        path = tmp_path / folder
        if errors:
            wanted: set[str] = set()
            for block in errors:
                last = [ln.strip() for ln in block.text.splitlines() if ln.strip()][-1]
                match = ERROR.match(last)
                assert match, f"{block.where}: a relance-error block must end with a line `# error E123`"
                wanted |= {c.strip() for c in match.group(1).split(",")}
            with pytest.raises(relance.RuleSetError) as caught:
                relance.load(path)
            got = {d.code for d in caught.value.diagnostics}
            assert got == wanted, f"{folder}/: documented {sorted(wanted)}, relance says:\n{explain(caught.value)}"
        else:
            try:
                relance.load(path)
            except relance.RuleSetError as error:
                pytest.fail(f"{folder}/ (files at {', '.join(b.where for b in blocks)}) does not load:\n"
                            f"{explain(error)}")


@pytest.mark.parametrize("block", [pytest.param(b, id=f"line-{b.line}") for b in BLOCKS if b.kind == "relance-test"])
def test_the_test_files_pass(block: Block, tmp_path: Path) -> None:
    write_workspace(tmp_path)
    path = tmp_path / block.attrs["file"]
    rules = relance.load(path.parent)
    done = run_one(rules, path, block.attrs["file"])
    results, diagnostics = done.results, done.diagnostics
    assert not diagnostics, f"{block.where}: " + "; ".join(f"{d.code} {d.message}" for d in diagnostics)
    assert results, f"{block.where}: no test case found"
    failed = [r for r in results if not r.passed]
    assert not failed, f"{block.where}: " + "; ".join(
        f"{r.name}: {r.error or [(f.what, f.expected, f.actual) for f in r.failures]}" for r in failed)


def _line_matches(expected: str, actual: str) -> bool:
    """Exactly, or with each `...` inside the line standing for any text (a duration, a random code)."""
    if expected == actual:
        return True
    if "..." not in expected:
        return False
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual) is not None


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; a line `...` matches any number of lines, a `...` inside a line any text."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(_matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and _line_matches(expected[0], actual[0]) and _matches(expected[1:], actual[1:])


def test_transcript_wildcards() -> None:
    assert _matches(["a", "...", "d"], ["a", "b", "c", "d"]) and _matches(["..."], [])
    assert _matches(["5 codes issued in ... s; wrote x.csv"], ["5 codes issued in 0.0 s; wrote x.csv"])
    assert not _matches(["5 codes issued in ... s"], ["6 codes issued in 0.0 s"])
    assert not _matches(["b"], ["a", "b"]) and not _matches(["a.c"], ["abc"])  # no other wildcard


def run_transcript(block: Block, folder: Path) -> None:
    steps = _transcript(block)
    runner = CliRunner()
    status: int | None = None
    for number, (line, command, expected) in enumerate(steps):
        while expected and not expected[-1]:
            expected.pop()
        words = shlex.split(command)
        if words[0] == "relance":
            result = runner.invoke(cli, words[1:])
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise AssertionError(f"{DOC.name} line {line}: `{command}` crashed") from result.exception
            status, output = result.exit_code, result.output
            if number + 1 >= len(steps) or steps[number + 1][1] != "echo $?":
                assert status == 0, f"{DOC.name} line {line}: `{command}` exits {status}:\n{output}"
        elif command == "echo $?":
            assert status is not None, f"{DOC.name} line {line}: `echo $?` follows no relance command"
            output = f"{status}\n"
        elif words[0] == "cat" and len(words) == 2:
            output = (folder / words[1]).read_text(encoding="utf-8")
        else:
            raise AssertionError(f"{DOC.name} line {line}: unsupported command `{command}`")
        actual = [ln.rstrip() for ln in output.splitlines()]
        while actual and not actual[-1]:
            actual.pop()
        assert _matches(expected, actual), (f"{DOC.name} line {line}: `{command}`\n--- documented\n"
                                            + "\n".join(expected) + "\n--- relance\n" + "\n".join(actual))


def test_the_examples_run_in_order(workspace: Path) -> None:
    namespace: dict[str, object] = {"__name__": "checkout_md"}
    ran = 0
    for block in BLOCKS:
        if block.lang == "python":
            source = "\n" * (block.line - 1) + block.text  # tracebacks give the page's line numbers
            exec(compile(source, str(DOC), "exec"), namespace)  # noqa: S102 - the page's own examples
            ran += 1
        elif block.kind == "relance-cli":
            run_transcript(block, workspace)
            ran += 1
    assert ran >= MIN_PYTHON_BLOCKS


# ---- what the concurrency section promises ----


RACE_RULES = 'promotion last "The last uses":\n    code "LAST"\n    reward 10% off order\n    limit 3 total\n'


def race(url: str, rules: Path, racers: int = 12) -> list[str]:
    """`racers` checkouts, each with its own engine (as separate processes would have), redeem the
    code at once; the reasons of those refused."""
    relance.Engine(rules, store=url)  # the schema, once, before the race
    engines = [relance.Engine(rules, store=url) for _ in range(racers)]
    cart = {"currency": "EUR", "items": [{"sku": "A", "quantity": 1, "unit_price": "40.00"}]}
    now = dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
    evaluations = [e.evaluate(cart, codes=["LAST"], now=now) for e in engines]
    assert all(ev.applied for ev in evaluations)  # each one alone would get it
    start = threading.Barrier(racers)
    refused: list[str] = []
    redeemed: list[int] = []

    def checkout(i: int) -> None:
        start.wait()
        try:
            engines[i].redeem(evaluations[i], order_id=f"o-{i}", now=now)
            redeemed.append(i)
        except relance.RedemptionError as error:
            refused.extend(r.reason for r in error.refusals)

    threads = [threading.Thread(target=checkout, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for e in engines:
        e.store.engine.dispose()
    assert len(redeemed) == 3, f"{len(redeemed)} checkouts got a code limited to 3 uses"
    return refused


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_racing_checkouts_never_exceed_a_limit(backend: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "p.rules").write_text(RACE_RULES, encoding="utf-8")
    if backend == "sqlite":
        refused = race(f"sqlite:///{tmp_path / 'store.db'}", rules)
    else:
        from conftest import pg_database

        with pg_database() as url:
            refused = race(url, rules)
    assert refused == ["usage_limit_reached"] * 9

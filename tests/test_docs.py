"""Every example in docs/language.md and docs/diagnostics.md is executed here.

The docs mark their examples with the info string of a fenced block (the first word is the
language shown to readers, a `relance...` word says what to run, `key=value` words add options):

    ```relance                      expressions, each followed by a line `# => VALUE`: evaluated
                                    against the documentation shop and context, compiled and
                                    interpreted alike; VALUE is what `relance eval` prints
                                    (relance.engine.testing.runner.show with the shop's time zone and the
                                    expression's type: `2026-11-23T10:00:00+01:00`, `10%`,
                                    `{email: true, sms: false, push: false}`)
    ```relance-rules                declarations (.rules, or YAML with ```yaml relance-rules) that
                                    must load and check without a single diagnostic
    ```relance-error                an expression, declarations or a YAML file that must be refused
                                    with exactly the codes of its last line `# error E123[, E124]`
    ```yaml relance-test            a *.test.yaml file whose cases must all pass
    ```json relance-context         the documentation context (the data of `relance` blocks)
    ```console relance-cli          a terminal transcript: `$ relance ...`, `$ cat FILE` and
                                    `$ echo $?` commands, each followed by its exact output
                                    (a line `...` stands for any number of lines); a command not
                                    followed by `echo $?` must exit with status 0

Options: `file=PATH` makes the block a file of the documentation workspace (the folder in which
the CLI transcripts run; `shop/` is the rule set the `relance` blocks read), even a block that is
not run by itself (a test file meant to fail in a transcript); `as=NAME` names the
file a block is written to when it is checked on its own (default: the file name of `file=`, else
`example.rules` or `example.yaml`; `as=relance.yaml` replaces the project file).

A rules or error block is checked on its own, in a fresh folder holding the shop's project file
and segments (so it may use `contact in segment loyal`) plus the block. Fenced blocks without a
`relance` word (```text, plain ```yaml) are illustrations and are not run.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

import relance
from relance.cli import cli
from relance.engine.data.display import show
from relance.engine.testing.runner import run_one

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LANGUAGE = DOCS / "language.md"
DIAGNOSTICS = DOCS / "diagnostics.md"
SOURCE = ROOT / "relance"

KINDS = ("relance", "relance-rules", "relance-error", "relance-test", "relance-context", "relance-cli")
SHOP = "shop"
BASE_FILES = {"shop/relance.yaml": "relance.yaml", "shop/segments.rules": "segments.rules"}
"""Workspace files copied into every folder where a rules or error block is checked alone."""

MIN_LANGUAGE_BLOCKS = 40
MIN_LANGUAGE_EXAMPLES = 120
"""The docs tests must never pass vacuously: at least this many blocks and `# =>` examples."""

CODE = re.compile(r"E\d{3}")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
FENCE = re.compile(r"^(`{3,}|~{3,})\s*(.*?)\s*$")
RESULT = re.compile(r"^#\s*=>\s?(.*?)\s*$")
ERROR = re.compile(r"^#\s*error\s+(E\d{3}(?:\s*,\s*E\d{3})*)\s*$")
DECLARATION = re.compile(r"^(segment|promotion)\b")


# ---- reading the markdown ----


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    """1-based line of the first line inside the fence."""
    lang: str
    kind: str | None
    attrs: dict[str, str]
    text: str
    section: str
    """The nearest heading above the block."""

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}:{self.kind}"

    @property
    def where(self) -> str:
        return f"{self.doc} line {self.line}"


def parse_blocks(path: Path) -> list[Block]:
    """The fenced blocks of a markdown file, with their kind and options."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    section = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        fence = FENCE.match(line)
        if fence is None:
            heading = HEADING.match(line)
            if heading:
                section = heading.group(2)
            index += 1
            continue
        marker, info = fence.group(1), fence.group(2)
        body: list[str] = []
        index += 1
        while index < len(lines) and not (lines[index].startswith(marker[0] * len(marker))
                                          and not lines[index].strip(marker[0]).strip()):
            body.append(lines[index])
            index += 1
        if index >= len(lines):
            raise AssertionError(f"{path.name}: the block opened with {marker} is never closed")
        words = info.split()
        kinds = [w for w in words if w.startswith("relance")]
        if len(kinds) > 1:
            raise AssertionError(f"{path.name}: a block has two kinds: {info}")
        kind = kinds[0] if kinds else None
        attrs = dict(w.split("=", 1) for w in words if "=" in w)
        lang = words[0] if words and "=" not in words[0] else ""
        blocks.append(Block(path.name, index - len(body) + 1, lang, kind, attrs,
                            "\n".join(body) + "\n", section))
        index += 1
    return blocks


LANGUAGE_BLOCKS = parse_blocks(LANGUAGE)
DIAGNOSTIC_BLOCKS = parse_blocks(DIAGNOSTICS)
ALL_BLOCKS = [b for b in LANGUAGE_BLOCKS + DIAGNOSTIC_BLOCKS if b.kind is not None]


def _of(kind: str) -> list[Block]:
    return [b for b in ALL_BLOCKS if b.kind == kind]


def _params(kind: str) -> list[object]:
    return [pytest.param(b, id=b.id) for b in _of(kind)]


def examples(block: Block) -> list[tuple[int, str, str]]:
    """(line, expression, expected) for each `# => VALUE` of a `relance` block."""
    out: list[tuple[int, str, str]] = []
    pending: list[str] = []
    start = block.line
    for offset, line in enumerate(block.text.splitlines()):
        result = RESULT.match(line.strip())
        if result:
            expression = "\n".join(pending).strip()
            assert expression, f"{block.where}: `# =>` at line {block.line + offset} follows no expression"
            out.append((start, expression, result.group(1)))
            pending = []
            start = block.line + offset + 1
        else:
            if not pending and not line.strip():
                start += 1
                continue
            pending.append(line)
    leftover = [ln for ln in pending if ln.strip() and not ln.strip().startswith("#")]
    assert not leftover, f"{block.where}: the last expression has no `# => VALUE` line: {leftover}"
    return out


def expected_codes(block: Block) -> set[str]:
    lines = [ln.strip() for ln in block.text.splitlines() if ln.strip()]
    match = ERROR.match(lines[-1]) if lines else None
    assert match, f"{block.where}: a relance-error block must end with a line `# error E123`"
    return {code.strip() for code in match.group(1).split(",")}


# ---- the documentation workspace ----


def workspace_files() -> dict[str, str]:
    files: dict[str, str] = {}
    for block in LANGUAGE_BLOCKS:
        if "file" in block.attrs:
            name = block.attrs["file"]
            assert name not in files, f"{block.where}: `file={name}` is given twice"
            files[name] = block.text
    return files


def write_files(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs-workspace")
    write_files(folder, workspace_files())
    return folder


@pytest.fixture(scope="session")
def shop(workspace: Path) -> relance.RuleSet:
    assert (workspace / SHOP).is_dir(), "language.md gives no `file=shop/...` blocks"
    return relance.load(workspace / SHOP)


@pytest.fixture(scope="session")
def context_data() -> dict[str, object]:
    blocks = [b for b in LANGUAGE_BLOCKS if b.kind == "relance-context"]
    assert len(blocks) == 1, "language.md must show exactly one ```json relance-context block"
    data = json.loads(blocks[0].text)
    assert isinstance(data, dict)
    return data


def fresh_context(data: dict[str, object], rules: relance.RuleSet) -> relance.Context:
    return relance.Context.from_mapping(data, rules)


def check_folder(tmp_path: Path, block: Block) -> Path:
    """A folder with the shop's project file and segments, plus the block as its own file."""
    files = workspace_files()
    base = {short: files[name] for name, short in BASE_FILES.items() if name in files}
    default = "example.yaml" if block.lang in ("yaml", "yml") else "example.rules"
    name = block.attrs.get("as") or (Path(block.attrs["file"]).name if "file" in block.attrs else default)
    folder = tmp_path / "rules"
    write_files(folder, {**base, name: block.text})
    return folder


def is_declarations(block: Block) -> bool:
    if block.lang in ("yaml", "yml"):
        return True
    code = [ln.strip() for ln in block.text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return bool(code) and bool(DECLARATION.match(code[0]))


def codes_of(error: relance.RuleSetError) -> set[str]:
    return {d.code for d in error.diagnostics}


def explain(error: relance.RuleSetError) -> str:
    return "\n".join(f"  {d.path}:{d.line}:{d.column} {d.code} {d.message}" for d in error.diagnostics)


# ---- the tests ----


def test_docs_exist_and_are_not_vacuous() -> None:
    assert LANGUAGE.is_file(), "docs/language.md is missing"
    assert DIAGNOSTICS.is_file(), "docs/diagnostics.md is missing"
    run = [b for b in LANGUAGE_BLOCKS if b.kind is not None]
    assert len(run) >= MIN_LANGUAGE_BLOCKS, f"only {len(run)} executable blocks in language.md"
    count = sum(len(examples(b)) for b in run if b.kind == "relance")
    assert count >= MIN_LANGUAGE_EXAMPLES, f"only {count} `# =>` examples in language.md"
    for kind in KINDS:
        assert any(b.kind == kind for b in run), f"language.md has no {kind} block"


def test_every_relance_word_is_a_known_kind() -> None:
    for block in LANGUAGE_BLOCKS + DIAGNOSTIC_BLOCKS:
        assert block.kind is None or block.kind in KINDS, f"{block.where}: unknown block kind {block.kind}"
        unknown = set(block.attrs) - {"file", "as"}
        assert not unknown, f"{block.where}: unknown option(s) {sorted(unknown)}"


@pytest.mark.parametrize("block", _params("relance"))
def test_expression_examples(block: Block, shop: relance.RuleSet, context_data: dict[str, object]) -> None:
    found = examples(block)
    assert found, f"{block.where}: a relance block needs at least one `# => VALUE` line"
    problems = []
    for line, text, expected in found:
        try:
            compiled = relance.compile_expression(text, shop)
        except relance.RuleSetError as error:
            problems.append(f"line {line}: `{text}` does not check:\n{explain(error)}")
            continue
        ctx = fresh_context(context_data, shop)
        actual = show(compiled.evaluate(ctx), ctx.tz, compiled.type)
        ctx = fresh_context(context_data, shop)  # a fresh one: no segment memo shared with evaluate
        oracle = show(compiled.interpret(ctx), ctx.tz, compiled.type)
        if actual != expected:
            problems.append(f"line {line}: `{text}`\n    documented: {expected}\n    relance:    {actual}")
        elif oracle != actual:
            problems.append(f"line {line}: `{text}`: compiled {actual} but interpreted {oracle}")
    assert not problems, f"{block.where}:\n" + "\n".join(problems)


@pytest.mark.parametrize("block", _params("relance-rules"))
def test_rules_examples(block: Block, tmp_path: Path) -> None:
    folder = check_folder(tmp_path, block)
    try:
        rules = relance.load(folder)
    except relance.RuleSetError as error:
        pytest.fail(f"{block.where}: these declarations do not check:\n{explain(error)}")
    assert rules is not None


@pytest.mark.parametrize("block", _params("relance-error"))
def test_error_examples(block: Block, tmp_path: Path, shop: relance.RuleSet) -> None:
    wanted = expected_codes(block)
    with pytest.raises(relance.RuleSetError) as caught:
        if is_declarations(block) or "as" in block.attrs:
            relance.load(check_folder(tmp_path, block))
        else:
            relance.compile_expression(block.text, shop)
    got = codes_of(caught.value)
    assert got == wanted, f"{block.where}: documented {sorted(wanted)}, relance says:\n{explain(caught.value)}"
    for diagnostic in caught.value.diagnostics:
        assert diagnostic.message and diagnostic.line >= 1 and diagnostic.column >= 1


@pytest.mark.parametrize("block", _params("relance-test"))
def test_test_file_examples(block: Block, tmp_path: Path, shop: relance.RuleSet) -> None:
    path = tmp_path / Path(block.attrs.get("file", "example.test.yaml")).name
    path.write_text(block.text, encoding="utf-8")
    done = run_one(shop, path, path.name)
    results, diagnostics = done.results, done.diagnostics
    assert not diagnostics, f"{block.where}: " + "; ".join(f"{d.code} {d.message}" for d in diagnostics)
    assert results, f"{block.where}: no test case found"
    failed = [r for r in results if not r.passed]
    assert not failed, f"{block.where}: " + "; ".join(
        f"{r.name}: {r.error or [(f.what, f.expected, f.actual) for f in r.failures]}" for r in failed)


@pytest.mark.parametrize("block", _params("relance-context"))
def test_context_example(block: Block, shop: relance.RuleSet) -> None:
    ctx = relance.Context.from_mapping(json.loads(block.text), shop)
    assert ctx.contact is not None and ctx.orders and ctx.events and ctx.cart is not None


def _transcript(block: Block) -> list[tuple[int, str, list[str]]]:
    """(line, command, expected output lines) for each `$ ` line of a console block."""
    steps: list[tuple[int, str, list[str]]] = []
    for offset, line in enumerate(block.text.splitlines()):
        if line.startswith("$ "):
            steps.append((block.line + offset, line[2:].strip(), []))
        else:
            assert steps, f"{block.where}: a transcript starts with a `$ ` command"
            steps[-1][2].append(line.rstrip())
    for _, _, output in steps:
        while output and not output[-1]:
            output.pop()
    return steps


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; a line `...` matches any number of lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(_matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and _matches(expected[1:], actual[1:])


@pytest.mark.parametrize("block", _params("relance-cli"))
def test_cli_examples(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "workspace"
    write_files(folder, workspace_files())
    monkeypatch.chdir(folder)
    runner = CliRunner()
    steps = _transcript(block)
    assert steps, f"{block.where}: empty transcript"
    status: int | None = None
    for number, (line, command, expected) in enumerate(steps):
        words = shlex.split(command)
        if words[0] == "relance":
            result = runner.invoke(cli, words[1:])
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise AssertionError(f"line {line}: `{command}` crashed") from result.exception
            status = result.exit_code
            output = result.output
            following = steps[number + 1][1] if number + 1 < len(steps) else ""
            if following != "echo $?":
                assert status == 0, f"{block.doc} line {line}: `{command}` exits {status}:\n{output}"
        elif words[0] == "cat" and len(words) == 2:
            output = (folder / words[1]).read_text(encoding="utf-8")
        elif command == "echo $?":
            assert status is not None, f"line {line}: `echo $?` follows no relance command"
            output = f"{status}\n"
        else:
            raise AssertionError(f"{block.doc} line {line}: unsupported command `{command}`")
        actual = [ln.rstrip() for ln in output.splitlines()]
        while actual and not actual[-1]:
            actual.pop()
        assert _matches(expected, actual), (
            f"{block.doc} line {line}: `{command}`\n--- documented\n" + "\n".join(expected)
            + "\n--- relance\n" + "\n".join(actual))


# ---- docs/diagnostics.md ----


def source_codes() -> set[str]:
    """The diagnostic codes relance can emit: string literals like "E223" in relance/ (those
    only compared with, as in `d.code < "E200"`, are not codes)."""
    codes: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        compared = {id(node) for cmp in ast.walk(tree) if isinstance(cmp, ast.Compare)
                    for node in (cmp.left, *cmp.comparators)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.fullmatch(node.value) \
                    and id(node) not in compared:
                codes.add(node.value)
    return codes


def documented_codes() -> dict[str, int]:
    """Codes with a heading of their own in diagnostics.md, and the heading's line."""
    found: dict[str, int] = {}
    if not DIAGNOSTICS.is_file():
        return found
    for number, line in enumerate(DIAGNOSTICS.read_text(encoding="utf-8").splitlines(), 1):
        heading = HEADING.match(line)
        if heading and len(heading.group(1)) >= 2:
            match = re.match(r"(E\d{3})\b", heading.group(2))
            if match:
                assert match.group(1) not in found, f"diagnostics.md line {number}: {match.group(1)} twice"
                found[match.group(1)] = number
    return found


def _section_code(block: Block) -> str | None:
    match = re.match(r"(E\d{3})\b", block.section)
    return match.group(1) if match else None


def test_every_code_has_a_section() -> None:
    used = source_codes()
    assert len(used) >= 30, f"found only {len(used)} diagnostic codes in relance/"
    documented = set(documented_codes())
    missing = sorted(used - documented)
    assert not missing, f"codes used in relance/ without a section in docs/diagnostics.md: {missing}"
    stale = sorted(documented - used)
    assert not stale, f"docs/diagnostics.md documents codes that relance/ no longer uses: {stale}"


def test_diagnostic_examples_are_filed_under_their_code() -> None:
    for block in DIAGNOSTIC_BLOCKS:
        if block.kind == "relance-error":
            section = _section_code(block)
            assert section in expected_codes(block), f"{block.where}: a {sorted(expected_codes(block))} example " \
                                                     f"under the heading of {section}"


def _trigger_e001(tmp_path: Path) -> set[str]:
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "huge.rules").write_text("# " + "x" * 1_000_001 + "\nsegment a: true\n", encoding="utf-8")
    with pytest.raises(relance.RuleSetError) as caught:
        relance.load(folder)
    return codes_of(caught.value)


def _trigger_e002(tmp_path: Path) -> set[str]:
    codes: set[str] = set()
    for text in ("(" * 101 + "1" + ")" * 101, " or ".join(["true"] * 120)):
        with pytest.raises(relance.RuleSetError) as caught:
            relance.compile_expression(text)
        codes |= codes_of(caught.value)
    return codes


def _trigger_e003(tmp_path: Path) -> set[str]:
    folder = tmp_path / "latin1"
    folder.mkdir()
    (folder / "segments.rules").write_bytes('segment caf\xe9: true\n'.encode("latin-1"))
    with pytest.raises(relance.RuleSetError) as caught:
        relance.load(folder)
    return codes_of(caught.value)


def _trigger_e004(tmp_path: Path) -> set[str]:
    folder = tmp_path / "dir.test.yaml"
    folder.mkdir()  # a folder where a test file is expected cannot be read as a file
    rules = relance.load(_empty_rules(tmp_path))
    diagnostics = run_one(rules, folder, folder.name).diagnostics
    codes = {d.code for d in diagnostics}
    if hasattr(os, "geteuid") and os.geteuid() != 0:  # root reads any file: only a user can be refused
        locked = tmp_path / "locked"
        locked.mkdir()
        (locked / "a.rules").write_text("segment a: true\n", encoding="utf-8")
        (locked / "a.rules").chmod(0)
        try:
            with pytest.raises(relance.RuleSetError) as caught:
                relance.load(locked)
            codes |= codes_of(caught.value)
        finally:
            (locked / "a.rules").chmod(0o644)
    return codes


def _trigger_e005(tmp_path: Path) -> set[str]:
    with pytest.raises(relance.RuleSetError) as caught:
        relance.load(tmp_path / "no-such-folder")
    return codes_of(caught.value)


def _empty_rules(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir(exist_ok=True)
    return folder


TRIGGERS = {"E001": _trigger_e001, "E002": _trigger_e002, "E003": _trigger_e003, "E004": _trigger_e004,
            "E005": _trigger_e005}
"""Codes whose example cannot sit in a markdown block (a 1 MB file, bad bytes...): made here."""


@pytest.mark.parametrize("code", sorted(TRIGGERS))
def test_codes_triggered_by_hand(code: str, tmp_path: Path) -> None:
    assert code in documented_codes(), f"{code} has no section in docs/diagnostics.md"
    assert TRIGGERS[code](tmp_path) == {code}


def test_every_code_has_an_example_that_triggers_it() -> None:
    shown = {_section_code(b) for b in DIAGNOSTIC_BLOCKS if b.kind == "relance-error"}
    missing = sorted(source_codes() - shown - set(TRIGGERS))
    assert not missing, f"codes without an executed example in docs/diagnostics.md: {missing}"


def test_language_doc_mentions_every_function_and_aggregate() -> None:
    from relance.engine.language.functions import FUNCTIONS
    from relance.grammar.ast import AGGREGATES

    text = LANGUAGE.read_text(encoding="utf-8")
    missing = [name for name in [*FUNCTIONS, *AGGREGATES] if f"`{name}(" not in text and f"`{name}`" not in text]
    assert not missing, f"language.md does not document: {missing}"
    tested = "\n".join(b.text for b in LANGUAGE_BLOCKS if b.kind == "relance")
    untested = [name for name in [*FUNCTIONS, *AGGREGATES] if not re.search(rf"\b{name}\(", tested)]
    assert not untested, f"no executed example uses: {untested}"


def test_language_doc_mentions_every_field() -> None:
    from relance.engine.data.datamodel import RECORDS, ROOTS

    text = LANGUAGE.read_text(encoding="utf-8")
    missing = [f"{record}.{name}" for record, fields in RECORDS.items() for name in fields
               if f"`{name}`" not in text]
    missing += [name for name in ROOTS if f"`{name}`" not in text]
    assert not missing, f"language.md does not document: {missing}"


def test_workspace_shop_checks(shop: relance.RuleSet) -> None:
    assert shop.segments and shop.promotions

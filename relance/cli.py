"""The `relance` command: check, fmt, test, eval and schema, for rule files kept in git.

Exit codes are stable for CI: 0 clean; 1 the rules do not load (check, test) or do not match
their format (fmt --check); 2 usage or I/O errors, or failing tests (test). No Python
traceback reaches the user for bad input.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import click

from relance.grammar.diagnostics import Diagnostic, RuleSetError


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _print_diagnostics(error: RuleSetError, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps({"ok": False, "diagnostics": [d.to_dict() for d in error.diagnostics]}, indent=2))
    else:
        click.echo(error.render(), err=False)


def _count(number: int, word: str) -> str:
    return f"{number} {word}{'' if number == 1 else 's'}"


def _load(path: str) -> Any:
    from relance.engine.ruleset.load import load

    return load(path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="relance")
def cli() -> None:
    """relance: promotions, segments and lifecycle rules as files in git."""


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", help="output format")
def check(path: str, fmt: str) -> None:
    """Check a rule set (a folder, or one file): every problem, with where and how to fix it."""
    _check_target(Path(path))
    try:
        rules = _load(path)
    except RuleSetError as error:
        if Path(path).is_file():  # a file of a rule set: its own problems first and only
            own = [d for d in error.diagnostics if Path(d.path).resolve() == Path(path).resolve()]
            if own:
                error = RuleSetError(own, error.sources)
        _print_diagnostics(error, fmt)
        sys.exit(1)
    summary = {"segments": len(rules.segments), "promotions": len(rules.promotions)}
    if fmt == "json":
        click.echo(json.dumps({"ok": True, "diagnostics": [], **summary}))
    else:
        click.echo(f"{path}: ok ({_count(summary['segments'], 'segment')}, "
                   f"{_count(summary['promotions'], 'promotion')})")


def _check_target(target: Path) -> None:
    """Refuse, as a usage error, what is not a rule set or a rule file."""
    from relance.engine.language.files import RULE_SUFFIXES, find_project_file, is_test_file
    from relance.engine.language.forms import PROJECT_FILES

    if not target.exists():
        _fail(f"{target}: no such file or folder")
    if target.is_file():
        if target.name in PROJECT_FILES or is_test_file(target) or target.suffix not in RULE_SUFFIXES:
            _fail(f"{target}: not a rule file (.rules, .yaml, .yml); give the rule set's folder")
        return
    if find_project_file(target) is None:
        inner = sorted(str(p.parent) for name in PROJECT_FILES for p in target.glob(f"*/**/{name}"))
        if inner:
            _fail(f"{target} holds several rule sets ({', '.join(inner)}): check them one at a time")


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--check", "check_only", is_flag=True, help="fail if a file is not formatted; change nothing")
def fmt(path: str, check_only: bool) -> None:
    """Rewrite .rules files in canonical form (comments are kept, above their declaration)."""
    from relance.grammar.formatter import format_source
    from relance.grammar.parser import parse_rules

    target = Path(path)
    if not target.exists():
        _fail(f"{path}: no such file or folder")
    files = sorted(target.rglob("*.rules")) if target.is_dir() else [target]
    changed: list[Path] = []
    problems: list[Diagnostic] = []
    sources: dict[str, str] = {}
    for file in files:
        text = file.read_text(encoding="utf-8")
        tree, diagnostics = parse_rules(text, str(file))
        if diagnostics:
            problems.extend(diagnostics)
            sources[str(file)] = text
            continue
        new = format_source(text, tree.declarations)
        again, errors = parse_rules(new, str(file))
        if errors or again.declarations != tree.declarations:  # the formatter must never change meaning
            _fail(f"{file}: formatting would change the meaning of this file; please report it")
        if new != text:
            changed.append(file)
            if not check_only:
                file.write_text(new, encoding="utf-8")
    if problems:
        click.echo(RuleSetError(problems, sources).render())
        sys.exit(1)
    for file in changed:
        click.echo(f"{'would reformat' if check_only else 'reformatted'} {file}")
    if check_only and changed:
        sys.exit(1)
    if not changed:
        click.echo(f"{len(files)} file{'s' if len(files) != 1 else ''} already formatted")


@cli.command()
@click.argument("kind", type=click.Choice(["project", "rules", "tests"]), required=False)
def schema(kind: str | None) -> None:
    """Print the JSON Schema of a YAML file kind (all three without KIND), for editors.

    For example, with the YAML extension of VS Code: `relance schema rules > .relance-rules.json` and
    `"yaml.schemas": {".relance-rules.json": "rules/**/*.yaml"}` in the settings."""
    from relance.engine.language.forms import schemas

    found = schemas()
    click.echo(json.dumps(found[kind] if kind else found, indent=2))


@cli.command(name="eval")
@click.argument("expression")
@click.option("--context", "context_file", type=click.Path(), help="JSON file with now, contact, orders, cart...")
@click.option("--rules", "rules_path", type=click.Path(), help="rule set whose segments and attributes it may use")
@click.option("--at", "at", help="the clock, e.g. 2026-11-23T10:00 (overrides `now` in the context)")
@click.option("--explain", is_flag=True, help="show the value of each part of the expression")
def eval_(expression: str, context_file: str | None, rules_path: str | None, at: str | None, explain: bool) -> None:
    """Evaluate one expression against a JSON context and print its value."""
    from relance.engine.data.context import Context
    from relance.engine.data.display import show
    from relance.engine.data.errors import DataError, EvaluationError
    from relance.engine.data.models import UTC, to_aware
    from relance.engine.ruleset.expression import compile_expression

    rules = None
    if rules_path:
        try:
            rules = _load(rules_path)
        except RuleSetError as error:
            _print_diagnostics(error, "text")
            sys.exit(1)
    try:
        compiled = compile_expression(expression, rules)
    except RuleSetError as error:
        _print_diagnostics(error, "text")
        sys.exit(1)
    data: dict[str, Any] = {}
    if context_file:
        try:
            data = json.loads(Path(context_file).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            _fail(f"{context_file}: {error}")
        if not isinstance(data, dict):
            _fail(f"{context_file}: expected a JSON object")
    try:
        now = to_aware(at, rules.timezone if rules else UTC) if at else None
        if now is None and "now" not in data:
            now = dt.datetime.now(UTC)
        ctx = Context.from_mapping(data, rules, now)
    except (DataError, ValueError) as error:
        _fail(f"bad context: {error}")
    try:
        if explain:
            for depth, text, value, typ in compiled.explain(ctx):
                click.echo(f"{'  ' * depth}{show(value, ctx.tz, typ):<8} {text}")
            return
        click.echo(show(compiled.evaluate(ctx), ctx.tz, compiled.type))
    except EvaluationError as error:
        _fail(f"cannot evaluate: {error}", 1)


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", help="output format")
@click.option("-v", "--verbose", is_flag=True, help="list passing cases too")
def test(path: str, fmt: str, verbose: bool) -> None:
    """Run the *.test.yaml files of a rule set. Exit 1 if the rules do not load, 2 if a test fails
    or a test file has errors."""
    from relance.engine.testing.runner import run_tests, test_files

    target = Path(path)
    if not target.exists():
        _fail(f"{path}: no such file or folder")
    if target.is_dir():
        _check_target(target)
    rules_root = target if target.is_dir() else target.parent
    try:
        rules = _load(str(rules_root))
    except RuleSetError as error:
        _print_diagnostics(error, fmt)
        sys.exit(1)
    files = test_files(target)
    run = run_tests(rules, files)
    if fmt == "json":
        click.echo(json.dumps(run.to_dict(), indent=2))
    else:
        if not files:
            click.echo(f"no test files (*.test.yaml) under {path}")
        click.echo(run.render(verbose))
    if run.exit_code:
        sys.exit(run.exit_code)


DEFAULT_STORE = "sqlite:///relance.db"


@cli.command(name="import")
@click.option("--store", default=DEFAULT_STORE, show_default=True, help="database URL (SQLite file or PostgreSQL)")
@click.option("--contacts", "contacts_file", type=click.Path(exists=True, dir_okay=False), help="CSV or JSON Lines")
@click.option("--orders", "orders_file", type=click.Path(exists=True, dir_okay=False), help="CSV or JSON Lines")
@click.option("--events", "events_file", type=click.Path(exists=True, dir_okay=False), help="CSV or JSON Lines")
@click.option("--rules", "rules_path", type=click.Path(exists=True), help="rule set (time zone, custom attributes)")
@click.option("--strict", is_flag=True, help="refuse the whole import at the first bad row")
def import_(store: str, contacts_file: str | None, orders_file: str | None, events_file: str | None,
            rules_path: str | None, strict: bool) -> None:
    """Import contacts, orders (with items) and events; upsert by id, every bad row reported."""
    from sqlalchemy.exc import SQLAlchemyError

    from relance.engine.store.connection import connect
    from relance.engine.store.importer import ImportRefused

    if not (contacts_file or orders_file or events_file):
        _fail("give at least one of --contacts, --orders, --events")
    rules = _rules_or_exit(rules_path)
    engine = connect(store)
    try:
        report = _run_import(engine, rules, strict, contacts_file, orders_file, events_file)
    except SQLAlchemyError as error:
        _fail(f"cannot open the store: {str(error).splitlines()[0]}")
    except ImportRefused as refused:
        click.echo(f"{refused.bad}", err=True)
        _fail("import refused (--strict): nothing was written", 1)
    for path, columns in report.ignored.items():
        click.echo(f"{path}: ignored column(s) {', '.join(sorted(columns))} (not in the data model; custom "
                   "contact attributes must be declared in relance.yaml)", err=True)
    for bad in report.bad[:50]:
        click.echo(str(bad), err=True)
    if len(report.bad) > 50:
        click.echo(f"... and {len(report.bad) - 50} more bad rows", err=True)
    counts = ", ".join(f"{n:,} {kind}s" for kind, n in report.rows.items())
    click.echo(f"imported {counts}; {len(report.bad):,} bad rows skipped")
    if report.bad:
        sys.exit(1)


def _run_import(engine: Any, rules: Any, strict: bool, *files: str | None) -> Any:
    from rich.progress import Progress, SpinnerColumn, TextColumn

    from relance.engine.data.models import UTC
    from relance.engine.store.importer import Importer

    tz = rules.timezone if rules else UTC
    custom = dict(rules.attributes) if rules else {}
    paths = [Path(f) if f else None for f in files]
    if not sys.stderr.isatty():
        return Importer(engine, tz, custom, strict).run(*paths)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} rows"),
                  transient=True) as bar:
        tasks: dict[str, Any] = {}

        def advance(kind: str, rows: int) -> None:
            if kind not in tasks:
                tasks[kind] = bar.add_task(f"importing {kind}s")
            bar.advance(tasks[kind], rows)

        return Importer(engine, tz, custom, strict, advance).run(*paths)


@cli.command()
@click.option("--store", default=None, help=f"database URL [default: {DEFAULT_STORE}]")
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False),
              help="a folder of contacts/orders files, imported into a temporary store instead")
@click.option("--at", "at", required=True, help="the clock, e.g. 1998-07-01")
@click.option("--rules", "rules_path", type=click.Path(exists=True), help="rule set (time zone, currency)")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="write the CSV here instead of standard output")
def rfm(store: str | None, data_dir: str | None, at: str, rules_path: str | None, out: str | None) -> None:
    """Compute RFM for every contact with an eligible order and write it as CSV."""
    import csv

    from relance.engine.data.models import UTC, to_aware
    from relance.engine.segments.rfm import compute_sql, read_sql

    rules = _rules_or_exit(rules_path)
    tz = rules.timezone if rules else UTC
    engine = _store_or_data(store, data_dir, rules)
    try:
        now = to_aware(at, tz)
    except ValueError as error:
        _fail(f"--at: {error}")
    compute_sql(engine, now, tz, rules.currency if rules else "EUR")
    table = read_sql(engine)
    handle = open(out, "w", newline="", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
    try:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["contact_id", "recency_days", "frequency", "monetary", "r", "f", "m"])
        for contact_id in sorted(table):
            row = table[contact_id]
            writer.writerow([contact_id, row.recency_days, row.frequency, row.monetary.amount, row.r, row.f, row.m])
    finally:
        if out:
            handle.close()


@cli.group()
def segments() -> None:
    """Segment membership over the store."""


@segments.command(name="refresh")
@click.argument("rules_path", type=click.Path(exists=True), default=".", required=False)
@click.option("--store", default=DEFAULT_STORE, show_default=True, help="database URL")
@click.option("--at", "at", help="the clock (default: now)")
def segments_refresh(rules_path: str, store: str, at: str | None) -> None:
    """Compute every segment (and RFM), store membership, record who entered and who left."""
    from relance.engine.data.models import to_aware
    from relance.engine.segments.refresh import refresh

    rules = _rules_or_exit(rules_path)
    try:
        now = to_aware(at, rules.timezone) if at else dt.datetime.now(dt.UTC)
    except ValueError as error:
        _fail(f"--at: {error}")
    moves = refresh(_existing_store(store).engine, rules, now)
    width = max((len(m.segment) for m in moves), default=10)
    for move in moves:
        click.echo(f"{move.segment:<{width}}  {move.members:>9,} members  +{move.entered:,}  -{move.exited:,}")


@cli.command(name="dry-run")
@click.argument("rules_path", type=click.Path(exists=True))
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False),
              help="a folder of contacts/orders/events files, imported into a temporary store")
@click.option("--store", default=None, help="an existing store to read (nothing is written)")
@click.option("--at", "at", help="the clock (default: now)")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "html"]), default="table")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="write the report here")
@click.option("--sample", default=5, show_default=True, help="members shown per segment")
def dry_run_(rules_path: str, data_dir: str | None, store: str | None, at: str | None, fmt: str, out: str | None,
             sample: int) -> None:
    """Segment sizes, samples, the RFM grid and pending moves over real data, writing nothing."""
    from relance.engine.data.models import to_aware
    from relance.engine.segments.dryrun import dry_run

    rules = _rules_or_exit(rules_path)
    if not (data_dir or store):
        _fail("give --data DIR (files to import into a temporary store) or --store URL")
    try:
        now = to_aware(at, rules.timezone) if at else dt.datetime.now(dt.UTC)
    except ValueError as error:
        _fail(f"--at: {error}")
    engine = _store_or_data(store, data_dir, rules)
    report = dry_run(engine, rules, now, sample)
    if fmt == "json":
        text = json.dumps(report.to_dict(), indent=2)
    elif fmt == "html":
        from relance.engine.segments.report_html import render

        text = render(report)
    else:
        text = _report_table(report, out is None)
    if out:
        Path(out).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        click.echo(f"wrote {out}")
    else:
        click.echo(text, nl=not text.endswith("\n"))


def _report_table(report: Any, color: bool) -> str:
    from rich.console import Console
    from rich.table import Table

    console = Console(record=True, width=140, force_terminal=color and sys.stdout.isatty(), file=io.StringIO())
    console.print(f"Dry-run at {report.at}: {report.contacts:,} contacts, {report.buyers:,} with an RFM score")
    table = Table("segment", "members", "share", "enter", "leave", "sample")
    for s in report.segments:
        table.add_row(s.name, f"{s.size:,}", f"{100 * s.share:.1f}%", "" if s.would_enter is None else f"{s.would_enter:,}",
                      "" if s.would_leave is None else f"{s.would_leave:,}", ", ".join(s.sample))
    console.print(table)
    grid = Table("RFM", *[f"f={f}" for f in range(1, 6)], title="contacts per recency (r) and frequency (f) score")
    for index, row in enumerate(report.rfm_grid):
        grid.add_row(f"r={5 - index}", *[f"{n:,}" for n in row])
    console.print(grid)
    return console.export_text(styles=console.is_terminal)


def _store_or_data(store: str | None, data_dir: str | None, rules: Any) -> Any:
    """The store to read: a URL, or a temporary SQLite store filled from a data folder."""
    from relance.engine.store.connection import connect

    if store and data_dir:
        _fail("give --store or --data, not both")
    if not data_dir:
        return _existing_store(store or DEFAULT_STORE).engine
    folder = Path(data_dir)
    files = {kind: _data_file(folder, kind) for kind in ("contacts", "orders", "events")}
    if files["contacts"] is None and files["orders"] is None:
        _fail(f"{data_dir}: no contacts.csv/.jsonl or orders.csv/.jsonl in this folder")
    engine = connect("sqlite://")
    report = _run_import(engine, rules, False, *(str(f) if f else None for f in files.values()))
    for bad in report.bad[:20]:
        click.echo(str(bad), err=True)
    return engine


def _data_file(folder: Path, kind: str) -> Path | None:
    for suffix in (".csv", ".jsonl", ".ndjson"):
        if (folder / f"{kind}{suffix}").is_file():
            return folder / f"{kind}{suffix}"
    return None


def _rules_or_exit(path: str | None) -> Any:
    if path is None:
        return None
    try:
        return _load(path)
    except RuleSetError as error:
        _print_diagnostics(error, "text")
        sys.exit(1)


@cli.group()
def db() -> None:
    """The store's schema, changed only by migrations (relance/engine/store/migrations/)."""


def _on_store(url: str, work: Any) -> None:
    """Run `work(engine)` on the store at `url`: a bad URL, an unreachable database or a store that
    cannot be migrated is one line on standard error and exit 2, never a traceback."""
    from alembic.util import CommandError
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from relance.engine.store.connection import connect
    from relance.engine.store.migrate import MigrationError

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is reported below, as it was given
        shown = url
    engine = None
    try:
        engine = connect(url)
        work(engine)
    except (SQLAlchemyError, MigrationError, CommandError, ImportError, ValueError) as error:
        text = str(getattr(error, "orig", None) or error)
        lines = [line.strip() for line in text.splitlines() if line.strip() and "Background on this" not in line]
        _fail(f"{shown}: {' '.join(lines) or type(error).__name__}")
    finally:
        if engine is not None:
            engine.dispose()


@db.command(name="upgrade")
@click.option("--store", default=DEFAULT_STORE, show_default=True, help="database URL (SQLite file or PostgreSQL)")
def db_upgrade(store: str) -> None:
    """Bring the store to the latest schema: create it, migrate it, or adopt one made before migrations."""
    from relance.engine.store import migrate
    def work(engine: Any) -> None:
        before = migrate.current(engine)
        migrate.upgrade(engine)
        after = migrate.current(engine)
        click.echo(f"before: {before or 'none'}")
        click.echo(f"after:  {after} (head{', nothing to do' if before == after else ''})")

    _on_store(store, work)


@db.command(name="current")
@click.option("--store", default=DEFAULT_STORE, show_default=True, help="database URL (SQLite file or PostgreSQL)")
def db_current(store: str) -> None:
    """Print the store's revision, and the revisions `relance db upgrade` would apply."""
    from relance.engine.store import migrate
    def work(engine: Any) -> None:
        database = engine.url.database
        if engine.dialect.name == "sqlite" and database not in (None, "", ":memory:") and not Path(database).exists():
            click.echo(f"none (no store at {database} yet: relance db upgrade creates it)")
            return
        revision, todo = migrate.current(engine), migrate.pending(engine)
        every = [s.revision for s in reversed(list(migrate.script().walk_revisions()))]
        if revision is None and todo != every:  # tables without history: upgrade stamps, then applies the rest
            matched = every[len(every) - len(todo) - 1]
            click.echo(f"none (made before migrations, as {matched}; relance db upgrade records it"
                       + (f" and applies {', '.join(todo)})" if todo else ")"))
        elif not todo:
            click.echo(f"{revision} (head)")
        else:
            click.echo(f"{revision or 'none'} ({len(todo)} pending: {', '.join(todo)}; run relance db upgrade)")

    _on_store(store, work)


# ---- checkout: explain a cart, codes, the one-click stop ----


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        _fail(f"{path}: cannot read the {what}: {error}")


def _at(at: str | None, tz: Any) -> dt.datetime:
    from relance.engine.data.models import CLOCK_YEARS, UTC, to_aware

    try:
        when = to_aware(at, tz) if at else dt.datetime.now(UTC)
    except ValueError as error:
        if not str(error).startswith("date out of range"):
            _fail(f"--at: `{at}` is not a date or a date and time, e.g. 2026-12-24 or 2026-12-24T10:00")
        when = dt.datetime.min.replace(tzinfo=UTC)
    if when.year not in CLOCK_YEARS:
        _fail(f"--at: `{at}` is out of range (years {CLOCK_YEARS.start} to {CLOCK_YEARS.stop - 1})")
    return when


def _checkout_engine(rules_path: str, store: str | None) -> Any:
    from relance.engine.service import Engine

    rules = _rules_or_exit(rules_path)
    return Engine(rules, _existing_store(store) if store is not None else None)


def _existing_store(url: str) -> Any:
    """A store relance has set up, or exit 2: a typo in its path must not read, nor write to, a
    new, empty store (stop a promotion there, report no one) while the real one keeps serving."""
    from sqlalchemy.exc import SQLAlchemyError

    from relance.engine.service import Store
    from relance.engine.store.migrate import MigrationError

    try:
        return Store(url, create=False)
    except (SQLAlchemyError, MigrationError, ValueError, ImportError) as error:
        _fail(f"cannot open the store: {str(error).splitlines()[0]}")


@cli.command()
@click.argument("rules_path", type=click.Path(exists=True))
@click.option("--cart", "cart_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="JSON file with the cart (currency, items, shipping, country...)")
@click.option("--contact", "contact_file", type=click.Path(exists=True, dir_okay=False),
              help="JSON file with the contact, or with contact, orders and events")
@click.option("--code", "codes", multiple=True, help="a code typed by the customer (repeatable)")
@click.option("--at", "at", help="the clock, e.g. 2026-12-24T10:00 (default: now)")
@click.option("--store", default=None, help="store to read usage and codes from (default: none, nothing used)")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def explain(rules_path: str, cart_file: str, contact_file: str | None, codes: tuple[str, ...], at: str | None,
            store: str | None, fmt: str) -> None:
    """Which promotions a cart gets, by how much, on which lines, and why the others do not."""
    from relance.engine.data.errors import DataError, EvaluationError

    engine = _checkout_engine(rules_path, store)
    cart = _read_json(cart_file, "cart")
    person = _read_json(contact_file, "contact") if contact_file else None
    history: dict[str, Any] = {}
    if isinstance(person, dict) and "contact" in person:
        history = {k: person.get(k) or [] for k in ("orders", "events")}
        person = person["contact"]
    try:
        now = _at(at, engine.rules.timezone)
        result = engine.evaluate(cart, person, codes, now, explain=True, **history)
    except (DataError, ValueError) as error:
        _fail(f"bad data: {error}")
    except EvaluationError as error:
        _fail(f"cannot evaluate: {error}", 1)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(_evaluation_table(result, engine.rules.timezone))


def _evaluation_table(result: Any, tz: Any) -> str:
    from rich.console import Console
    from rich.table import Table

    width = max(100, min(shutil.get_terminal_size().columns, 160)) if sys.stdout.isatty() else 140
    console = Console(record=True, width=width, file=io.StringIO())  # rich records, prints nothing
    local = result.now.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
    console.print(f"Cart at {local}: subtotal {result.subtotal}, shipping {result.shipping}")
    applied = Table("applied", "code", "base", "discount", "lines", title="Applied")
    for a in result.applied:
        lines = ", ".join(f"{x.sku} -{x.amount.amount}" for x in a.allocations)
        if a.shipping_discount.amount:
            lines = ", ".join(filter(None, [lines, f"shipping -{a.shipping_discount.amount}"]))
        if a.gifts:
            lines = ", ".join(filter(None, [lines, "gift " + " ".join(a.gifts)]))
        capped = f" (capped: {a.capped_by})" if a.capped_by else ""
        applied.add_row(a.promotion, a.code or "", str(a.base), f"{a.discount}{capped}", lines)
    if result.applied:
        console.print(applied)
    refused = Table("promotion", "code", "reason", "why", title="Not applied")
    for r in result.refused:
        why = r.message
        if r.condition is not None:
            why += f"\nfalse: {r.condition} at {r.condition.path}:{r.condition.line}:{r.condition.column}"
        refused.add_row(r.promotion or "", r.code or "", r.reason, why)
    if result.refused:
        console.print(refused)
    console.print(f"discount {result.discount} + shipping discount {result.shipping_discount}; "
                  f"total {result.total}")
    return console.export_text()


@cli.group()
def codes() -> None:
    """Pools of unique codes: generate or import them into the store, void or restore one."""


@codes.command(name="generate")
@click.argument("promotion")
@click.option("--count", required=True, type=click.IntRange(1, 10_000_000), help="how many new codes")
@click.option("--rules", "rules_path", default=".", show_default=True, type=click.Path(exists=True))
@click.option("--store", default=DEFAULT_STORE, show_default=True, help="database URL")
@click.option("--contact", "contact_id", help="bind every code to this contact (a support code)")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="also write the codes to this CSV file")
@click.option("--at", "at", help="the issue time (default: now); `expires after` counts from it")
def codes_generate(promotion: str, count: int, rules_path: str, store: str, contact_id: str | None,
                   out: str | None, at: str | None) -> None:
    """Generate COUNT new unique codes of PROMOTION (its `code unique pattern`) into the store."""
    import time

    from relance.engine.checkout.codes import write_csv

    engine = _checkout_engine(rules_path, store)
    if contact_id is not None and not contact_id.strip():
        _fail("--contact: give the id of the customer the codes are for (it is empty)")
    # the file is opened first (beside --out, renamed at the end): codes stored but never written
    # out would be live codes nobody received, and an earlier file is kept until the new one is whole
    try:
        handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", delete=False,  # noqa: SIM115
                                             dir=Path(out).resolve().parent, suffix=".part") if out else None
    except OSError as error:
        _fail(f"--out: cannot write {out}: {error.strerror or error}; no code was issued")
    try:
        start = time.perf_counter()
        try:
            now = _at(at, engine.rules.timezone)
            issued = engine.issue_codes(promotion, count, contact_id, now)
        except (KeyError, ValueError) as error:
            _fail(str(error).strip('"'))
        seconds = time.perf_counter() - start
        if handle is not None:
            try:
                write_csv(issued, handle)
                handle.close()
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(handle.name, 0o666 & ~umask)  # as an ordinary file (a temporary file is private)
                os.replace(handle.name, out)  # type: ignore[arg-type]
            except OSError as error:
                _fail(f"--out: {len(issued):,} codes were issued and stored, but writing {out} failed "
                      f"({error.strerror or error}): export them from the store's `codes` table")
    finally:
        if handle is not None:
            handle.close()
            Path(handle.name).unlink(missing_ok=True)
    expiry = engine.code_expiry(promotion, now)
    until = f", valid until {expiry.astimezone(engine.rules.timezone):%Y-%m-%d %H:%M}" if expiry else ""
    click.echo(f"{promotion}: {_count(len(issued), 'code')} issued in {seconds:.1f} s{until}"
               + (f"; wrote {out}" if out else ""))


@codes.command(name="import")
@click.argument("promotion")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--rules", "rules_path", default=".", show_default=True, type=click.Path(exists=True))
@click.option("--store", default=DEFAULT_STORE, show_default=True, help="database URL")
def codes_import(promotion: str, file: str, rules_path: str, store: str) -> None:
    """Import the codes of FILE (CSV: code[, contact_id, expires_at]) into PROMOTION's pool; all or none."""
    from relance.engine.checkout.codes import read_csv

    engine = _checkout_engine(rules_path, store)
    try:
        count = engine.import_codes(promotion, read_csv(file))
    except (KeyError, ValueError) as error:
        _fail(f"{file}: {str(error).strip(chr(34))}")
    click.echo(f"{promotion}: {_count(count, 'code')} imported")


def _store_switch(command: Any) -> Any:
    """The options of a command that switches something in a shop's store."""
    command = click.option("--store", default=DEFAULT_STORE, show_default=True, help="database URL")(command)
    return click.option("--rules", "rules_path", default=".", show_default=True, type=click.Path(exists=True))(command)


def _switch(subject: str, rules_path: str, store: str, act: Any, done: str, unchanged: str | None = None) -> None:
    """Switch one thing in the store (stop a promotion, void a code), or say why not; `unchanged`
    is said when `act` returns False (it was so already)."""
    from relance.engine.data.errors import DataError

    engine = _checkout_engine(rules_path, store)
    try:
        changed = act(engine)
    except (KeyError, DataError) as error:
        _fail(str(error).strip('"'))
    click.echo(f"{subject}: {unchanged if changed is False and unchanged else done}")


@codes.command(name="void")
@click.argument("code")
@click.option("--note", help="why (kept in the store)")
@_store_switch
def codes_void(code: str, note: str | None, rules_path: str, store: str) -> None:
    """Cancel one pool code CODE now (leaked, sent by mistake); the rest of its pool keeps serving."""
    _switch(code, rules_path, store, lambda engine: engine.void_code(code, note), "voided", "already voided")


@codes.command(name="restore")
@click.argument("code")
@_store_switch
def codes_restore(code: str, rules_path: str, store: str) -> None:
    """Make a voided code CODE serve again."""
    _switch(code, rules_path, store, lambda engine: engine.restore_code(code), "restored", "was not voided")


@cli.group()
def promotions() -> None:
    """Stop or restart a promotion in the store, without a rule change."""


@promotions.command(name="disable")
@click.argument("name")
@click.option("--note", help="why (kept in the store)")
@_store_switch
def promotions_disable(name: str, note: str | None, rules_path: str, store: str) -> None:
    """Stop promotion NAME now: no cart gets it, no redemption is recorded."""
    _switch(name, rules_path, store, lambda engine: engine.disable(name, note), "stopped")


@promotions.command(name="enable")
@click.argument("name")
@_store_switch
def promotions_enable(name: str, rules_path: str, store: str) -> None:
    """Restart promotion NAME."""
    _switch(name, rules_path, store, lambda engine: engine.enable(name), "running")


def main() -> None:
    """Entry point: an unexpected failure is reported in one line, never as a traceback."""
    try:
        cli(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except RecursionError:
        _fail("internal error: input too deeply nested; please report it with the file that caused it", 3)
    except Exception as error:  # noqa: BLE001 - last line of defence for the user's terminal
        _fail(f"internal error: {type(error).__name__}: {error}; please report it", 3)


if __name__ == "__main__":
    main()

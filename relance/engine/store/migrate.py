"""Schema migrations of the store (Alembic): every store, new or old, SQLite or PostgreSQL, is brought
to the same schema by the same revisions (`relance/engine/store/migrations/versions/`).

`create_schema` is `upgrade`, so tests, the importer and the CLI all make their stores through
the migrations; `relance db upgrade` and `relance db current` are the commands. A store made before
migrations existed (tables, no `alembic_version`) is recognised and stamped, then upgraded.

Add a revision after changing a table in `store.py`:

    python -m relance.engine.store.migrate revision -m "what changed"
"""

from __future__ import annotations

import argparse
import functools
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event, inspect, text

from relance.engine.store import tables as store
from relance.engine.store.connection import connect

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The Alembic environment (`env.py`, `script.py.mako`) and its `versions/`, shipped in the package."""

PRE_MIGRATION_REVISIONS = ("0001", "0002")
"""The schemas that `metadata.create_all` could make before migrations existed: the released tables
(0001), and those plus the checkout ledger (0002). A store without history that matches one of them
exactly (tables and columns) is stamped with it. Revisions added later never belong here."""

_PG_LOCK = 0x72656C616E6365  # "relance": one upgrade at a time per PostgreSQL database

_ALEMBIC = threading.RLock()
"""Alembic's `context` and `op` are module globals: two threads migrating two stores at once would
swap connections. Always taken after the database's own lock, so the two cannot deadlock."""


class MigrationError(RuntimeError):
    """The store cannot be migrated safely (e.g. tables without history that match no known schema)."""


def config(connection: Connection | None = None) -> Config:
    """An Alembic configuration built in code (no alembic.ini), sharing `connection` with env.py."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def script() -> ScriptDirectory:
    """The revisions, read once per process: stores are created often (every test), scripts never change."""
    return ScriptDirectory.from_config(config())


def head() -> str:
    """The latest revision (the history is linear: one head)."""
    found = script().get_current_head()
    assert found is not None, "no revision in relance/engine/store/migrations/versions"
    return found


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the store to `revision` (the latest by default), in one transaction where the database
    allows it. Cheap when there is nothing to do, since every store creation goes through here."""
    target = _targets(revision)
    with engine.connect() as conn:
        if _heads(conn) == target:
            return
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # a batch migration recreates tables: cascades must not fire on the copy's DROP
            foreign_keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():  # two processes creating one store: one waits, then finds it done
                if sqlite:  # the write lock now, and every statement in one transaction (SQLite's DDL is one)
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                elif conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
                heads = _heads(conn)
                if heads == target:
                    return
                if sqlite and not heads and len(target) == 1 and _empty_sqlite(conn):
                    _replay(conn, _recorded(target[0]))
                    return
                if not heads:
                    baseline = _baseline(conn)
                    if baseline is not None:
                        _run(conn, lambda rev, _ctx: script()._stamp_revs((baseline,), rev), baseline)
                _run(conn, lambda rev, _ctx: script()._upgrade_revs(revision, rev), revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise MigrationError(f"the migration broke {len(broken)} foreign key(s): {broken[:5]}")
        finally:
            if sqlite:
                conn.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
                conn.commit()


def current(engine: Engine) -> str | None:
    """The store's revision (None: never migrated), e.g. to tell whether code and database agree."""
    with engine.connect() as conn:
        heads = _heads(conn)
    return ",".join(heads) if heads else None


def pending(engine: Engine) -> list[str]:
    """The revisions `upgrade` would apply, oldest first (a store made before migrations is counted
    from the revision it matches, since it is stamped with it rather than created again)."""
    with engine.connect() as conn:
        heads = _heads(conn)
        start = heads[0] if heads else _baseline(conn)
    return [s.revision for s in reversed(list(script().iterate_revisions("heads", start or "base")))]


def differences(engine: Engine) -> list[Any]:
    """What Alembic's autogenerate sees between the store and `store.metadata`: empty when the tables
    in `store.py` and the migrations agree (a non-empty list means a revision is missing)."""
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), store.metadata)


# ---- internals ----


def _targets(revision: str) -> tuple[str, ...]:
    return tuple(s.revision for s in script().get_revisions(revision) if s is not None)


def _heads(conn: Connection) -> tuple[str, ...]:
    return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))


def _run(conn: Connection, fn: Callable[[Any, Any], Any], destination: str) -> None:
    """What `alembic.command.upgrade`/`stamp` do, with the cached revisions, through env.py."""
    sd = script()
    with _ALEMBIC, EnvironmentContext(config(conn), sd, fn=fn, as_sql=False, destination_rev=destination):
        sd.run_env()


def _empty_sqlite(conn: Connection) -> bool:
    return conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar() == 0


@functools.cache
def _recorded(target: str) -> tuple[tuple[str, Any, bool], ...]:
    """The statements the migrations run on an empty SQLite database, recorded once per process.

    An empty database is always in the same state, so replaying them makes exactly the store that
    running the migrations makes (the tests check it), in about the time of `create_all` rather
    than three times that: tests create hundreds of in-memory stores."""
    statements: list[tuple[str, Any, bool]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        statements.append((statement, parameters, many))

    engine = connect("sqlite://")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
            event.listen(conn, "before_cursor_execute", record)
            with conn.begin():
                _run(conn, lambda rev, _ctx: script()._upgrade_revs(target, rev), target)
            event.remove(conn, "before_cursor_execute", record)
    finally:
        engine.dispose()
    return tuple(statements)


def _replay(conn: Connection, statements: Sequence[tuple[str, Any, bool]]) -> None:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for statement, parameters, many in statements:
            (cursor.executemany if many else cursor.execute)(statement, parameters)
    finally:
        cursor.close()


@functools.cache
def _schema_at(revision: str) -> dict[str, frozenset[str]]:
    """Tables and their column names after `revision`, found by running the migrations in memory."""
    engine = connect("sqlite://")
    try:
        with engine.connect() as conn, conn.begin():
            _run(conn, lambda rev, _ctx: script()._upgrade_revs(revision, rev), revision)
            return _tables(conn)
    finally:
        engine.dispose()


def _tables(conn: Connection, names: set[str] | None = None) -> dict[str, frozenset[str]]:
    inspector = inspect(conn)
    return {t: frozenset(c["name"] for c in inspector.get_columns(t)) for t in inspector.get_table_names()
            if t != "alembic_version" and (names is None or t in names)}


def _baseline(conn: Connection) -> str | None:
    """The revision a store without history was made at (by `create_all`), or None for an empty database.

    Tables that no relance schema ever had (another application's) are ignored."""
    known = {t for rev in PRE_MIGRATION_REVISIONS for t in _schema_at(rev)}
    found = _tables(conn, set(inspect(conn).get_table_names()) & known)
    if not found:
        return None
    for rev in reversed(PRE_MIGRATION_REVISIONS):
        if found == _schema_at(rev):
            return rev

    def gaps(rev: str) -> tuple[list[str], list[str], list[str]]:
        expected = _schema_at(rev)
        return (sorted(set(expected) - set(found)), sorted(set(found) - set(expected)),
                sorted(t for t in found if t in expected and found[t] != expected[t]))

    closest = min(reversed(PRE_MIGRATION_REVISIONS), key=lambda rev: sum(map(len, gaps(rev))))
    missing, extra, changed = gaps(closest)
    raise MigrationError(
        "the store has relance tables but no migration history (no alembic_version table), and they match "
        f"no schema made before migrations; against the closest ({closest}): missing tables {missing or 'none'}, "
        f"extra tables {extra or 'none'}, other columns in {changed or 'none'}. Fix the tables by hand, then "
        "record their revision: python -m relance.engine.store.migrate stamp REVISION --store URL")


# ---- python -m relance.engine.store.migrate revision -m "..." ----


def _next_id() -> str:
    numbers = [int(s.revision) for s in script().walk_revisions() if s.revision.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


def revision(message: str, empty: bool = False) -> Path:
    """Write a new revision: what `store.metadata` has that a store at head lacks (autogenerate against
    a temporary SQLite store), or an empty one to fill by hand (`empty`, e.g. a data migration)."""
    engine = connect("sqlite://")
    try:
        upgrade(engine)
        if not empty and not differences(engine):
            raise MigrationError("store.metadata and the migrations agree: nothing to generate "
                                 "(give --empty for a revision written by hand)")
        with _ALEMBIC, engine.connect() as conn:
            written = command.revision(config(conn), message=message, autogenerate=not empty, rev_id=_next_id())
    finally:
        engine.dispose()
        script.cache_clear()
    assert written is not None and not isinstance(written, list)
    return Path(written.path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relance.engine.store.migrate", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("revision", help="write a new revision from the changes in store.py")
    new.add_argument("-m", "--message", required=True, help="what the revision changes")
    new.add_argument("--empty", action="store_true", help="an empty revision, to write by hand")
    commands.add_parser("check", help="exit 1 if store.py has changes that no revision makes")
    stamp = commands.add_parser("stamp", help="record a store's revision without running anything (repairs)")
    stamp.add_argument("revision")
    stamp.add_argument("--store", required=True, help="database URL")
    args = parser.parse_args(argv)
    if args.command == "stamp":
        engine = connect(args.store)
        with _ALEMBIC, engine.begin() as conn:
            command.stamp(config(conn), args.revision, purge=True)
        print(f"{args.store}: recorded as {current(engine)}")
        return 0
    if args.command == "check":
        engine = connect("sqlite://")
        upgrade(engine)
        found = differences(engine)
        for diff in found:
            print(diff)
        print(f"{len(found)} difference(s) between store.py and the migrations")
        return 1 if found else 0
    try:
        path = revision(args.message, args.empty)
    except MigrationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path}: read it, fix what autogenerate cannot know (renames, data), then run the tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def create_schema(engine: Engine) -> None:
    """Bring the store to the latest schema through the migrations, never with `create_all`: a new
    store and an old one then have exactly the same tables."""
    upgrade(engine)

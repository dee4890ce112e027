"""Migrations: the tables in store.py and the revisions in relance/engine/store/migrations/ must agree, on SQLite and
PostgreSQL; upgrading is idempotent; stores made before migrations are adopted; `relance db`."""

from __future__ import annotations

import datetime as dt
import pprint
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from conftest import pg_database
from sqlalchemy import Engine, event, insert, inspect, select, text

from relance.cli import cli
from relance.engine.store import migrate
from relance.engine.store import tables as store
from relance.engine.store.connection import connect

ADD_A_MIGRATION = (
    "the tables in relance/engine/store.py and the migrations differ: add a migration with\n"
    '    python -m relance.engine.store.migrate revision -m "what changed"\n'
    "(alembic revision --autogenerate, against a store at head), read it, then run the tests again.\n"
    "Differences (Alembic's compare_metadata):\n")

EVERY_REVISION = [s.revision for s in reversed(list(migrate.script().walk_revisions()))]


def assert_matches_metadata(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), store.metadata)
    assert not diffs, ADD_A_MIGRATION + pprint.pformat(diffs)


def sqlite_store(tmp_path: Path, name: str = "store.db") -> Engine:
    return connect(f"sqlite:///{tmp_path / name}")


def schema_sql(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return sorted(tuple(row) for row in conn.execute(text("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")))


def writes_during(engine: Engine, work: Any) -> list[str]:
    """The statements other than reads that `work()` runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("SELECT", "PRAGMA", "WITH", "SHOW")):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def add_contact(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(store.contacts).values(
            id="c1", created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), consent_email=True,
            consent_sms=False, consent_push=False, tags=[], points=0, attributes={}))


def contact_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(store.contacts.c.id)).scalars())


def without_history(engine: Engine, revision: str) -> None:
    """A store as `metadata.create_all` made it at `revision`, before migrations existed."""
    migrate.upgrade(engine, revision)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))


# ---- the history itself ----


def test_one_linear_history_shipped_with_the_package() -> None:
    assert (migrate.MIGRATIONS / "env.py").is_file() and (migrate.MIGRATIONS / "script.py.mako").is_file()
    heads = migrate.script().get_heads()
    assert len(heads) == 1, f"several heads {heads}: two revisions have the same parent; renumber and rebase one"
    assert EVERY_REVISION[: len(migrate.PRE_MIGRATION_REVISIONS)] == list(migrate.PRE_MIGRATION_REVISIONS)


def test_revision_scripts_import_relance_types_by_path() -> None:
    for path in (migrate.MIGRATIONS / "versions").glob("0*.py"):
        source = path.read_text(encoding="utf-8")
        if "UTCDateTime" in source:
            assert "import relance.engine.store\n" in source, path
            assert "UTCDateTime()" in source and "relance.engine.store.UTCDateTime()" in source, path


# ---- the test that fails when a table changes without a migration ----


def test_sqlite_store_made_by_the_migrations_matches_store_py(tmp_path: Path) -> None:
    engine = sqlite_store(tmp_path)
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    assert_matches_metadata(engine)


def test_postgresql_store_made_by_the_migrations_matches_store_py() -> None:
    with pg_database() as url:
        engine = connect(url)
        try:
            migrate.upgrade(engine)
            assert migrate.current(engine) == migrate.head() and migrate.pending(engine) == []
            assert_matches_metadata(engine)
            assert writes_during(engine, lambda: migrate.upgrade(engine)) == []
        finally:
            engine.dispose()


def test_check_entry_point_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    assert migrate.main(["check"]) == 0, ADD_A_MIGRATION + capsys.readouterr().out


def test_revision_refuses_to_write_an_empty_autogenerated_revision() -> None:
    before = sorted((migrate.MIGRATIONS / "versions").glob("*.py"))
    with pytest.raises(migrate.MigrationError, match="nothing to generate"):
        migrate.revision("nothing changed")
    assert sorted((migrate.MIGRATIONS / "versions").glob("*.py")) == before


# ---- upgrade ----


def test_upgrade_twice_is_a_no_op(tmp_path: Path) -> None:
    engine = sqlite_store(tmp_path)
    migrate.upgrade(engine)
    add_contact(engine)
    before = schema_sql(engine)
    assert writes_during(engine, lambda: migrate.upgrade(engine)) == []
    assert writes_during(engine, lambda: migrate.create_schema(engine)) == []
    assert schema_sql(engine) == before and contact_ids(engine) == ["c1"]


def test_current_and_pending_step_by_step(tmp_path: Path) -> None:
    engine = sqlite_store(tmp_path)
    assert migrate.current(engine) is None and migrate.pending(engine) == EVERY_REVISION
    migrate.upgrade(engine, EVERY_REVISION[0])
    assert migrate.current(engine) == EVERY_REVISION[0] and migrate.pending(engine) == EVERY_REVISION[1:]
    add_contact(engine)
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head() and migrate.pending(engine) == []
    assert contact_ids(engine) == ["c1"]
    assert_matches_metadata(engine)


def test_the_fast_path_for_empty_sqlite_makes_what_the_migrations_make(tmp_path: Path) -> None:
    replayed = sqlite_store(tmp_path, "replayed.db")
    migrate.upgrade(replayed)
    ran = sqlite_store(tmp_path, "ran.db")
    with ran.connect() as conn, conn.begin():
        migrate._run(conn, lambda rev, _ctx: migrate.script()._upgrade_revs("head", rev), "head")
    assert schema_sql(replayed) == schema_sql(ran)
    assert migrate.current(replayed) == migrate.current(ran) == migrate.head()


def test_threads_creating_stores_at_once_all_succeed(tmp_path: Path) -> None:
    """Three on one new file (without the write lock taken first, two failed with `table alembic_version
    already exists`) and three on older stores (Alembic's globals: without a lock, connections were swapped)."""
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    engines = [connect(shared) for _ in range(3)]
    for number in range(3):
        engines.append(sqlite_store(tmp_path, f"old{number}.db"))
        migrate.upgrade(engines[-1], EVERY_REVISION[0])
    migrate._recorded.cache_clear()  # recorded again, concurrently
    barrier = threading.Barrier(len(engines))

    def create(engine: Engine) -> str | None:
        barrier.wait()
        migrate.create_schema(engine)
        return migrate.current(engine)

    with ThreadPoolExecutor(len(engines)) as pool:
        assert list(pool.map(create, engines)) == [migrate.head()] * len(engines)


def test_foreign_keys_stay_on_for_a_reused_sqlite_connection() -> None:
    engine = connect("sqlite://")  # in memory: one connection, reused after the upgrade
    migrate.create_schema(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


RECREATE_ORDERS = """
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "{parent}"


def upgrade():
    with op.batch_alter_table("orders", recreate="always") as batch_op:
        batch_op.add_column(sa.Column("note", sa.String(), nullable=True))


def downgrade():
    pass
"""


@pytest.fixture
def scratch_migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the migrations to add revisions to (the caches are emptied before and after)."""
    copy = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "MIGRATIONS", copy)
    caches = (migrate.script, migrate._recorded, migrate._schema_at)
    for cache in caches:
        cache.cache_clear()
    yield copy
    for cache in caches:
        cache.cache_clear()


def test_a_batch_migration_on_sqlite_fires_no_cascade(tmp_path: Path, scratch_migrations: Path) -> None:
    """Recreating `orders` drops the old table: with foreign keys on, SQLite would delete its items."""
    engine = sqlite_store(tmp_path)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(insert(store.orders).values(
            id="o1", created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), status="paid", currency="EUR",
            total_minor=100, shipping_minor=0, codes=[]))
        conn.execute(insert(store.order_items).values(
            order_id="o1", line=0, sku="S", tags=[], quantity=1, currency="EUR", unit_price_minor=100))
    parent = migrate.head()
    (scratch_migrations / "versions" / "9999_recreate_orders.py").write_text(
        RECREATE_ORDERS.format(rev="9999", parent=parent), encoding="utf-8")
    migrate.script.cache_clear()
    migrate.upgrade(engine)
    assert migrate.current(engine) == "9999"
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM order_items").scalar() == 1
        assert "note" in {c["name"] for c in inspect(conn).get_columns("orders")}
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


# ---- stores made before migrations ----


def test_a_store_made_by_create_all_is_stamped_and_upgraded(tmp_path: Path) -> None:
    """While today's tables and columns are those of a pre-migration schema, such a store is
    adopted (a later revision that only adds indexes creates them if missing); once a revision
    changes tables or columns, a `create_all` of today's tables matches no known history and is
    refused untouched (the parametrized test below covers adoption at each older revision)."""
    engine = sqlite_store(tmp_path)
    store.metadata.create_all(engine)
    add_contact(engine)
    today = {t.name: frozenset(c.name for c in t.columns) for t in store.metadata.sorted_tables}
    if all(today != migrate._schema_at(rev) for rev in migrate.PRE_MIGRATION_REVISIONS):
        with pytest.raises(migrate.MigrationError):
            migrate.upgrade(engine)
        assert migrate.current(engine) is None and contact_ids(engine) == ["c1"]
        return
    baseline = next(rev for rev in reversed(migrate.PRE_MIGRATION_REVISIONS) if today == migrate._schema_at(rev))
    assert migrate.current(engine) is None
    assert migrate.pending(engine) == EVERY_REVISION[EVERY_REVISION.index(baseline) + 1:]
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head() and contact_ids(engine) == ["c1"]
    assert_matches_metadata(engine)


@pytest.mark.parametrize("revision", migrate.PRE_MIGRATION_REVISIONS)
def test_a_store_without_history_is_stamped_at_its_revision_then_upgraded(tmp_path: Path, revision: str) -> None:
    engine = sqlite_store(tmp_path)
    without_history(engine, revision)
    add_contact(engine)
    assert migrate.current(engine) is None
    assert migrate.pending(engine) == EVERY_REVISION[EVERY_REVISION.index(revision) + 1:]
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head() and contact_ids(engine) == ["c1"]
    assert_matches_metadata(engine)


def test_a_postgresql_store_made_by_create_all_is_adopted() -> None:
    with pg_database() as url:
        engine = connect(url)
        try:
            without_history(engine, migrate.PRE_MIGRATION_REVISIONS[0])
            add_contact(engine)
            migrate.upgrade(engine)
            assert migrate.current(engine) == migrate.head() and contact_ids(engine) == ["c1"]
            assert_matches_metadata(engine)
        finally:
            engine.dispose()


def test_tables_matching_no_known_schema_are_refused_and_left_alone(tmp_path: Path) -> None:
    engine = sqlite_store(tmp_path)
    store.metadata.create_all(engine, tables=[store.contacts, store.orders])
    with pytest.raises(migrate.MigrationError, match="no migration history"):
        migrate.upgrade(engine)
    assert sorted(inspect(engine).get_table_names()) == ["contacts", "orders"]


def test_other_applications_tables_do_not_count(tmp_path: Path) -> None:
    engine = sqlite_store(tmp_path)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)"))
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    assert set(inspect(engine).get_table_names()) == {"someone_elses", "alembic_version", *store.metadata.tables}


# ---- relance db ----


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_cli_db_upgrade_then_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    expected = f"none (no store at {tmp_path / 'cli.db'} yet: relance db upgrade creates it)\n"
    assert run("db", "current", "--store", url) == (0, expected, "")
    code, out, _ = run("db", "upgrade", "--store", url)
    assert code == 0 and out == f"before: none\nafter:  {migrate.head()} (head)\n"
    code, out, _ = run("db", "upgrade", "--store", url)
    assert code == 0 and out == f"before: {migrate.head()}\nafter:  {migrate.head()} (head, nothing to do)\n"
    assert run("db", "current", "--store", url) == (0, f"{migrate.head()} (head)\n", "")


def test_cli_db_on_a_store_made_before_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    without_history(connect(url), migrate.PRE_MIGRATION_REVISIONS[0])
    code, out, _ = run("db", "current", "--store", url)
    assert code == 0 and out.startswith(f"none (made before migrations, as {migrate.PRE_MIGRATION_REVISIONS[0]};")
    code, out, _ = run("db", "upgrade", "--store", url)
    assert code == 0 and out == f"before: none\nafter:  {migrate.head()} (head)\n"


def test_cli_db_upgrade_on_postgresql() -> None:
    with pg_database() as url:
        code, out, _ = run("db", "upgrade", "--store", url)
        assert code == 0 and out.endswith(f"after:  {migrate.head()} (head)\n")


@pytest.mark.parametrize("url", ["nonsense", "postgresql://relance:secret@127.0.0.1:1/none",
                                 "sqlite:////no/such/folder/relance.db"])
def test_cli_db_upgrade_bad_store_is_one_line_and_exit_2(url: str) -> None:
    code, out, err = run("db", "upgrade", "--store", url)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "secret" not in err


def test_cli_db_upgrade_refuses_unknown_tables_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'odd.db'}"
    store.metadata.create_all(connect(url), tables=[store.contacts])
    code, _, err = run("db", "upgrade", "--store", url)
    assert code == 2 and err.count("\n") == 1 and "no migration history" in err

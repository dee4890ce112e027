"""Alembic environment of the store, run by `relance.engine.store.migrate` (there is no alembic.ini).

The caller passes the connection in `config.attributes["connection"]` (Alembic's recipe for sharing
a connection), so that the version check, a baseline stamp and the upgrade happen in one transaction.
Without one, the URL comes from the `sqlalchemy.url` option, e.g. for `--sql` (offline) output.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from relance.engine.store import tables as store
from relance.engine.store.connection import connect

config = context.config
target_metadata = store.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render relance's own column types by their import path, and import them in the script."""
    if type_ == "type" and isinstance(obj, store.UTCDateTime):
        autogen_context.imports.add("import relance.engine.store")
        return "relance.engine.store.UTCDateTime()"
    return False


def _options(dialect_name: str) -> dict[str, Any]:
    # SQLite cannot ALTER most things: batch mode recreates the table (and works on PostgreSQL too).
    return {"target_metadata": target_metadata, "render_item": render_item, "compare_type": True,
            "render_as_batch": dialect_name == "sqlite"}


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"},
                      **_options(url.split(":", 1)[0].split("+", 1)[0] if url else "sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Any) -> None:
    context.configure(connection=connection, **_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = connect(config.get_main_option("sqlalchemy.url") or "sqlite:///relance.db")
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

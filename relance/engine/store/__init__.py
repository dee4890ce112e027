"""The database: tables, connections, migrations (Alembic), imports of contacts, orders and events.

May import relance.grammar and engine.data. `UTCDateTime` is re-exported because released revisions name it here."""

from relance.engine.store.tables import UTCDateTime

__all__ = ["UTCDateTime"]

"""Alembic migrations of the store: `env.py` and the revisions in `versions/`.

Run them with `relance db upgrade` or `relance.engine.store.migrate.upgrade(engine)`; add one with
`python -m relance.engine.store.migrate revision -m "what changed"`.
"""

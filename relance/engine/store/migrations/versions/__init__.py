"""One file per revision of the store's schema, applied in order by `relance.engine.migrate`."""

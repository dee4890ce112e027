"""Values and records the rules read: money, value semantics, types, the data model, boundary models, the context.

May import relance.grammar only: everything above evaluates over these."""

"""The three readings of one checked AST: the reference interpreter (oracle), generated Python, SQLAlchemy Core.

May import grammar, data, language (the annotations) and store (the tables the SQL reads)."""

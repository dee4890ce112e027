"""The rule language as text: the Lark grammar, text -> AST with positions, the canonical formatter, diagnostics.

Owns syntax and positions only; imports nothing of relance outside this package (every layer above reports with it)."""

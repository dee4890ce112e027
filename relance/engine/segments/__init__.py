"""Segments over contacts: membership in-process and in SQL, RFM scores, refresh with moves, dry-runs and reports.

May import the layers up to engine.ruleset; never checkout or anything above."""

"""The engine: from checked rules to evaluations, stores and reports, in sub-packages ordered as layers.

data < language < store < backends < ruleset < {segments, checkout} < events < {loyalty, referral, scenarios} < service < testing;
a package imports only from lower layers and from relance.grammar (tests/test_layers.py proves it)."""

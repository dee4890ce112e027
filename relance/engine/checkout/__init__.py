"""Promotions at checkout: evaluation of a cart (pure), allocation, explanations, redemption ledger, code pools.

May import the layers up to engine.ruleset; never segments or anything above."""

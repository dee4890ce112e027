"""The checked, compiled RuleSet: `relance.load`, compiled promotions and segments, `compile_expression`.

May import every layer below (grammar, data, language, store, backends): it is where they are put together."""

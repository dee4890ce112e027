"""`relance test`: the YAML test files beside the rules, their validation, and the runner of their cases.

May import every engine layer (it drives the rules the way a shop and a batch job would)."""

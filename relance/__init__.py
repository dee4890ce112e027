"""relance: promotions, loyalty and lifecycle rules as files in git, applied in-process.

The public API: `load` a rule set folder, `compile_expression` for one condition, `Context` for
the data a rule reads, and `RuleSetError` with every positioned diagnostic of a bad rule set.
"""

from relance.engine.checkout import Applied, Evaluation, Refusal
from relance.engine.context import Context, DataError
from relance.engine.diagnostics import Diagnostic, EvaluationError, RuleSetError
from relance.engine.expression import CompiledExpression, compile_expression
from relance.engine.ledger import Receipt, RedemptionError
from relance.engine.loader import load
from relance.engine.models import Cart, Contact, Event, Item, Order
from relance.engine.money import Money
from relance.engine.ruleset import RuleSet
from relance.engine.service import Engine, Opportunity, Store, StoreError

__version__ = "0.1.0"

__all__ = [
    "Applied", "Cart", "CompiledExpression", "Engine", "Evaluation", "Opportunity", "Receipt", "RedemptionError",
    "Refusal", "Store", "StoreError", "Contact", "Context", "DataError", "Diagnostic", "EvaluationError", "Event",
    "Item", "Money", "Order", "RuleSet", "RuleSetError", "compile_expression", "load",
]

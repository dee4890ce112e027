"""relance: promotions, loyalty and lifecycle rules as files in git, applied in-process.

The public API: `load` a rule set folder, `compile_expression` for one condition, `Context` for
the data a rule reads, and `RuleSetError` with every positioned diagnostic of a bad rule set.
"""

from relance.engine.checkout.ledger import Receipt, RedemptionError
from relance.engine.checkout.results import Applied, Evaluation, Refusal
from relance.engine.data.context import Context
from relance.engine.data.errors import DataError, EvaluationError
from relance.engine.data.models import Cart, Contact, Event, Item, Order
from relance.engine.data.money import Money
from relance.engine.ruleset.expression import CompiledExpression, compile_expression
from relance.engine.ruleset.load import load
from relance.engine.ruleset.ruleset import RuleSet
from relance.engine.service import Engine, Opportunity, Store, StoreError
from relance.grammar.diagnostics import Diagnostic, RuleSetError

__version__ = "0.1.0"

__all__ = [
    "Applied", "Cart", "CompiledExpression", "Engine", "Evaluation", "Opportunity", "Receipt", "RedemptionError",
    "Refusal", "Store", "StoreError", "Contact", "Context", "DataError", "Diagnostic", "EvaluationError", "Event",
    "Item", "Money", "Order", "RuleSet", "RuleSetError", "compile_expression", "load",
]

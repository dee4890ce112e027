"""The mistakes of a `relance test` file seen before any case runs, each at its place in the file.

Its shape (the forms of `forms.py`), its data as the engine would take it (the records of
`models.py`, amounts that must be exact), the names it uses (contacts, promotions, segments),
its clocks and its expressions: every mistake at once, with a caret and a hint, so that a case
with a mistake is not run rather than counted as failed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from relance.engine.data.context import Context
from relance.engine.data.errors import DataError
from relance.engine.data.models import Cart, Contact, Event, Order, in_currency, to_aware
from relance.engine.data.money import Money
from relance.engine.language.form_errors import allowed_keys, form_diagnostic
from relance.engine.language.forms import AmountMark, Expectation, TestCase, TestFile
from relance.engine.language.yamlsource import Located, scalar_origin
from relance.engine.ruleset.expression import compile_expression
from relance.engine.ruleset.ruleset import RuleSet
from relance.engine.testing.checkout import CART_KEYS
from relance.grammar.diagnostics import Diagnostic, RuleSetError, did_you_mean

# ---- the shape of a test file ----


def validate(located: Located, ruleset: RuleSet) -> tuple[TestFile | None, list[int], list[Diagnostic], int]:
    """The test file as a model, the indices of its cases kept, its errors, and how many cases
    its errors keep from running. An error inside a case keeps that case only from running;
    one outside the cases (an unknown key, the file's clock or data) keeps all of them."""
    data = _json_shaped(located, ruleset) if located.data is not None else {}
    found: list[tuple[tuple[str | int, ...], Diagnostic]] = []
    try:
        TestFile.model_validate(data)
    except ValidationError as error:
        found.extend((tuple(item["loc"]), form_diagnostic(located, item, TestFile, "a test file")) for item in error.errors())
    floats = _inexact_numbers(located, ruleset)
    found.extend(floats)
    said = {loc for loc, _ in floats}  # a float is not also "not an amount"
    found.extend((loc, d) for loc, d in _mistakes(located, data, ruleset) if loc not in said)
    cases = data.get("tests") if isinstance(data, dict) else None
    count = len(cases) if isinstance(cases, list) else 0
    diagnostics = sorted({d: None for _, d in found}, key=Diagnostic.sort_key)
    if not found:
        return TestFile.model_validate(data), list(range(count)), [], 0
    whole_file = any(len(loc) < 2 or loc[0] != "tests" or not isinstance(loc[1], int) for loc, _ in found)
    if whole_file or not isinstance(cases, list):
        return None, [], diagnostics, count
    broken = {loc[1] for loc, _ in found}
    kept = [index for index in range(count) if index not in broken]
    try:
        spec = TestFile.model_validate({**data, "tests": [cases[index] for index in kept]})
    except ValidationError:  # not expected: the errors were all inside the cases left out
        return None, [], diagnostics, count
    return spec, kept, diagnostics, count - len(kept)


_RECORDS: dict[str, type[BaseModel]] = {"contacts": Contact, "orders": Order, "events": Event}


def _json_shaped(located: Located, ruleset: RuleSet) -> Any:
    """The test file's data as a shop sends it in JSON: a YAML whole number (`quantity: 2`) or
    true/false is given as one where the record wants one (the engine refuses `"2"` for a
    quantity); every other value stays the text written, which the records read as JSON text."""
    data = located.data
    if not isinstance(data, dict):
        return data

    def records(base: tuple[str | int, ...], holder: dict[str, Any]) -> None:
        for key, model in _RECORDS.items():
            rows = holder.get(key)
            if isinstance(rows, list):
                holder[key] = [_typed(located, (*base, key, n), row, model, ruleset) for n, row in enumerate(rows)]

    out = dict(data)
    records((), out)
    cases = out.get("tests")
    if isinstance(cases, list):
        out["tests"] = cases = list(cases)
        for index, case in enumerate(cases):
            if isinstance(case, dict):
                cases[index] = case = dict(case)
                records(("tests", index), case)
                if "cart" in case:
                    case["cart"] = _typed(located, ("tests", index, "cart"), case["cart"], Cart, ruleset)
    return out


def _typed(located: Located, loc: tuple[str | int, ...], value: Any, model: type[BaseModel],
           ruleset: RuleSet) -> Any:
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for key, item in value.items():
        here = (*loc, key)
        field_info = model.model_fields.get(key)
        if field_info is None:
            typ = ruleset.attributes.get(key) if model is Contact else None
            if typ is not None and typ.kind == "bool":
                out[key] = _scalar(located, here, item, "bool")
            elif typ is not None and typ.kind == "list" and typ.element is not None and typ.element.kind == "bool" \
                    and isinstance(item, list):
                out[key] = [_scalar(located, (*here, n), v, "bool") for n, v in enumerate(item)]
            continue
        leaves = _leaves(field_info.annotation)
        inner = next((t for t in leaves if isinstance(t, type) and issubclass(t, BaseModel)), None)
        if inner is not None and isinstance(item, list):
            out[key] = [_typed(located, (*here, n), v, inner, ruleset) for n, v in enumerate(item)]
        elif inner is not None:
            out[key] = _typed(located, here, item, inner, ruleset)
        elif bool in leaves:
            out[key] = _scalar(located, here, item, "bool")
        elif int in leaves:
            out[key] = _scalar(located, here, item, "int")
    return out


def _scalar(located: Located, loc: tuple[str | int, ...], value: Any, kind: str) -> Any:
    """A plain YAML scalar of that kind as its value (`2`, `true`); anything else as written."""
    node = located.nodes.get(loc)
    if not isinstance(node, yaml.ScalarNode) or node.style is not None or not node.tag.endswith(f":{kind}"):
        return value
    constructor = yaml.constructor.SafeConstructor()
    return constructor.construct_yaml_bool(node) if kind == "bool" else constructor.construct_yaml_int(node)


def _leaves(annotation: Any) -> list[Any]:
    """The types a field's annotation allows (`Money | None`, `tuple[Item, ...]`, `Annotated[...]`)."""
    if get_origin(annotation) is Annotated:
        return _leaves(get_args(annotation)[0])
    args = [a for a in get_args(annotation) if a is not Ellipsis]
    return [annotation, *(leaf for a in args for leaf in _leaves(a))]


def _marks(info: Any) -> list[Any]:
    """The metadata of a field (or of an annotation), down its unions and containers."""
    if hasattr(info, "annotation"):
        return [*info.metadata, *_marks(info.annotation)]
    inside = [m for a in get_args(info) for m in _marks(a)]
    return [*info.__metadata__, *inside] if get_origin(info) is Annotated else inside


_RECORD_FIELDS: dict[str, type[BaseModel]] = {**_RECORDS, "cart": Cart}
"""The data of a test file as free mappings in its form, and the engine's records that read them."""


def _amounts_of(model: type[BaseModel]) -> tuple[list[str], list[tuple[str, type[BaseModel]]]]:
    """The amounts a shop sends in `model` (its `Money` fields, or a form's text marked as a data
    amount), and its fields holding other models (records, items) to look into."""
    amounts, nested = [], []
    for name, info in model.model_fields.items():
        leaves = _leaves(info.annotation)
        if Money in leaves or any(isinstance(m, AmountMark) and m.data for m in _marks(info)):
            amounts.append(name)
        elif issubclass(model, (TestFile, TestCase)) and name in _RECORD_FIELDS:
            nested.append((name, _RECORD_FIELDS[name]))
        else:
            inner = next((t for t in leaves if isinstance(t, type) and issubclass(t, BaseModel)), None)
            if inner is not None:
                nested.append((name, inner))
    return amounts, nested


def _floats(located: Located, loc: tuple[str | int, ...],
            model: type[BaseModel]) -> list[tuple[tuple[str | int, ...], Diagnostic]]:
    """Floats written for the amounts of `model` at `loc`, and of the models inside it."""
    amounts, nested = _amounts_of(model)
    found = [d for name in amounts for d in _float_at(located, (*loc, name))]
    for name, inner in nested:
        here = (*loc, name)
        node = located.nodes.get(here)
        if isinstance(node, yaml.SequenceNode):
            found.extend(d for n in range(len(node.value)) for d in _floats(located, (*here, n), inner))
        elif isinstance(node, yaml.MappingNode):
            found.extend(_floats(located, here, inner))
    return found


def _inexact_numbers(located: Located, ruleset: RuleSet) -> list[tuple[tuple[str | int, ...], Diagnostic]]:
    """Floats (`12.5` unquoted) where the engine refuses them: the amounts of carts, orders, their
    items and redemptions (found from the models), and the contacts' custom attributes of kind
    money, number or percent. A test must not accept data a shop could not send (the engine says
    "amounts must be exact")."""
    data = located.data if isinstance(located.data, dict) else {}
    found = _floats(located, (), TestFile)
    places: list[tuple[str | int, ...]] = [()]
    cases = data.get("tests")
    if isinstance(cases, list):
        places.extend(("tests", index) for index in range(len(cases)))
    exact = {"money", "number", "percent"}
    for base in places:
        for index, _ in enumerate(_items(located, (*base, "contacts"))):
            for name, typ in ruleset.attributes.items():
                loc = (*base, "contacts", index, name)
                if typ.kind in exact:
                    found.extend(_float_at(located, loc, typ.kind))
                elif typ.kind == "list" and typ.element is not None and typ.element.kind in exact:
                    found.extend(d for n, _ in enumerate(_items(located, loc))
                                 for d in _float_at(located, (*loc, n), typ.element.kind))
    return found


# ---- mistakes found before the cases run ----

_CLOCK_HINT = "write a date and time such as `2026-11-23T10:00`, or a date such as `2026-11-23`"
_ANY_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_WHAT = {Contact: "a contact", Order: "an order", Event: "an event", Cart: "a cart"}
Found = list[tuple[tuple[str | int, ...], Diagnostic]]


def _mistakes(located: Located, data: Any, ruleset: RuleSet) -> Found:
    """The mistakes of a test file that need no run to be seen, each at its place: clocks that
    are not dates, records the engine would refuse (`quantity: 1.5`), names of contacts,
    promotions and segments that do not exist (with the closest one as a hint), expressions
    that do not parse or check, cases that check nothing."""
    if not isinstance(data, dict):
        return []
    found: Found = []
    _clock(located, ("now",), data.get("now"), ruleset, found)
    cases = [case for case in data.get("tests") or () if isinstance(case, dict)] \
        if isinstance(data.get("tests"), list) else []
    everywhere = {str(c.get("id")) for case in cases for c in _rows(case, "contacts")}
    shared = _records(located, (), data, {}, everywhere, ruleset, found)
    if isinstance(data.get("tests"), list):
        for index, case in enumerate(data["tests"]):
            if isinstance(case, dict):
                _case_mistakes(located, ("tests", index), case, data, shared, ruleset, found)
    return found


def _rows(holder: dict[str, Any], key: str) -> list[dict[str, Any]]:
    rows = holder.get(key)
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def _records(located: Located, base: tuple[str | int, ...], holder: dict[str, Any], known: dict[str, Any],
             elsewhere: set[str], ruleset: RuleSet, found: Found) -> dict[str, Any]:
    """Check the contacts, orders and events given at `base`; the contacts known there after them
    (those given before, `known`, and these). An order or event belongs to one of them (or, for
    the file's own, to a contact some case gives: `elsewhere`)."""
    ids = dict(known)
    for key, model in _RECORDS.items():
        rows = holder.get(key)
        for index, row in enumerate(rows if isinstance(rows, list) else ()):
            loc = (*base, key, index)
            if not isinstance(row, dict):
                continue
            if model is Contact and isinstance(row.get("id"), str):  # known, even if its data is wrong
                cid = row["id"]
                if cid in ids:
                    found.append(((*loc, "id"), Diagnostic.at(located.span((*loc, "id")), "E032",
                                                              f"contact `{cid}` is given twice",
                                                              "give each contact once, with its own id")))
                ids[cid] = loc
            if _record(located, loc, row, model, ruleset, found) and model is not Contact:
                owner = row.get("contact_id")
                if owner is not None and str(owner) not in ids and str(owner) not in elsewhere:
                    _unknown(located, (*loc, "contact_id"), str(owner), list(ids), "contact", found)
    return ids


def _record(located: Located, loc: tuple[str | int, ...], row: dict[str, Any], model: type[BaseModel],
            ruleset: RuleSet, found: Found) -> bool:
    """Whether the engine reads `row` as a `model`; if not, its mistakes, each at its place."""
    context = {"tz": ruleset.timezone}
    try:
        model.model_validate(row, context=in_currency(context, row) if model in (Order, Cart) else context)
    except ValidationError as error:
        found.extend(((*loc, *item["loc"]), _data_diagnostic(located, loc, item, model)) for item in error.errors())
        return False
    if model is not Contact:
        return True
    try:  # its custom attributes, as the project file declares them
        Context.from_mapping({"contact": row}, ruleset, _ANY_TIME)
    except DataError as error:
        text = str(error)
        name, _, rest = text.partition(": ")
        key = name.removeprefix("contact.")
        here = (*loc, key) if name.startswith("contact.") and key in row else loc
        message, _, hint = (rest if here != loc else text).partition("; ")
        where = ".".join(str(part) for part in here)
        found.append((here, Diagnostic.at(located.span(here, key="not a contact field" in message), "E032",
                                          f"`{where}`: {message}", hint or None)))
        return False
    return True


def _data_diagnostic(located: Located, base: tuple[str | int, ...], item: Any, model: type[BaseModel]) -> Diagnostic:
    """A record's validation error at the value that caused it, in the test file's words."""
    inside = tuple(item["loc"])
    loc = (*base, *inside)
    kind = item["type"]
    what = "an item" if "items" in inside[:-1] else _WHAT.get(model, "a record")
    if kind == "extra_forbidden":
        allowed = allowed_keys(model, inside[:-1])
        hint = did_you_mean(str(inside[-1]), allowed) or (f"allowed here: {', '.join(allowed)}" if allowed else None)
        return Diagnostic.at(located.span(loc, key=True), "E030", f"unknown key `{inside[-1]}` in {what}", hint)
    if kind == "missing":
        return Diagnostic.at(located.span(loc[:-1], key=True), "E031", f"`{inside[-1]}` is missing in {what}",
                             f"add `{inside[-1]}:` here")
    node = located.nodes.get(loc)
    written = f", and `{node.value}` is not one" if isinstance(node, yaml.ScalarNode) else ""
    where = ".".join(str(part) for part in loc)
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return Diagnostic.at(located.span(loc), "E032", f"`{where}`: expected a whole number{written}",
                             "write a whole number, e.g. `2`")
    if kind in ("bool_parsing", "bool_type"):
        return Diagnostic.at(located.span(loc), "E032", f"`{where}`: expected true or false{written}")
    message = str(item["msg"]).removeprefix("Value error, ")
    return Diagnostic.at(located.span(loc), "E032", f"`{where}`: {message}")


def _clock(located: Located, loc: tuple[str | int, ...], value: Any, ruleset: RuleSet, found: Found) -> None:
    if not isinstance(value, str):
        return
    try:
        to_aware(value, ruleset.timezone)
    except ValueError as error:
        where = ".".join(str(part) for part in loc)
        found.append((loc, Diagnostic.at(located.span(loc), "E032",
                                         f"`{where}`: `{value}` is not a date and time ({error})", _CLOCK_HINT)))


def _unknown(located: Located, loc: tuple[str | int, ...], name: str, known: Iterable[str], what: str,
             found: Found, code: str = "E220") -> None:
    """`name` is not among the `known` ones: said at its place, with the closest as a hint."""
    pool = sorted(set(known))
    among = "among the test's contacts" if what == "contact" else "in the rule set"
    hint = did_you_mean(name, pool) or (f"the {what}s are: {', '.join(pool)}" if 0 < len(pool) <= 8 else
                                        f"there is no {what} {among}" if not pool else None)
    found.append((loc, Diagnostic.at(located.span(loc), code, f"no {what} `{name}` {among}", hint)))


def _case_mistakes(located: Located, base: tuple[str | int, ...], case: dict[str, Any], data: dict[str, Any],
                   shared: dict[str, Any], ruleset: RuleSet, found: Found) -> None:
    where = located.span((*base, "name"), key=True)
    if case.get("now") is None and data.get("now") is None and set(data) <= set(TestFile.model_fields):
        # (with an unknown key at the top, such as `nwo:`, that key is the mistake to show)
        found.append(((*base, "now"), Diagnostic.at(where, "E031", "`now` is missing: this case has no clock",
                                                    "give `now:` in the case, or once at the top of the file")))
    _clock(located, (*base, "now"), case.get("now"), ruleset, found)
    contacts = _records(located, base, case, shared, set(), ruleset, found)
    if isinstance(case.get("cart"), dict):
        _record(located, (*base, "cart"), case["cart"], Cart, ruleset, found)
    contact = case.get("contact")
    if isinstance(contact, str) and contact not in contacts:
        _unknown(located, (*base, "contact"), contact, contacts, "contact", found)
    promotions = list(ruleset.promotions)
    for key in ("redeemed", "issued"):
        for index, row in enumerate(case.get(key) if isinstance(case.get(key), list) else ()):
            if not isinstance(row, dict):
                continue
            loc = (*base, key, index)
            if isinstance(row.get("promotion"), str) and row["promotion"] not in ruleset.promotions:
                _unknown(located, (*loc, "promotion"), row["promotion"], promotions, "promotion", found)
            for clock in ("at", "expires_at"):
                _clock(located, (*loc, clock), row.get(clock), ruleset, found)
            _amount(located, (*loc, "amount"), row.get("amount"), ruleset, found)
    for index, name in enumerate(case.get("disabled") if isinstance(case.get("disabled"), list) else ()):
        if isinstance(name, str) and name not in ruleset.promotions:
            _unknown(located, (*base, "disabled", index), name, promotions, "promotion", found)
    expect = case.get("expect")
    if not isinstance(expect, list):
        return
    if not expect:
        found.append(((*base, "expect"), Diagnostic.at(
            located.span((*base, "expect"), key=True), "E031", "`expect` is empty: this case checks nothing",
            "say what must follow, e.g. `- applied: PROMOTION`, `- segment: NAME` with `members:`, "
            "or `- expression: ...` with `equals:`")))
    needs_contact = False
    for number, check in enumerate(expect):
        if isinstance(check, dict):
            needs_contact |= _expectation_mistakes(located, (*base, "expect", number), check, case, ruleset, found)
    if needs_contact and not isinstance(contact, str) and len(contacts) != 1:
        found.append(((*base, "contact"), Diagnostic.at(
            where, "E031", f"`contact` is missing: the case has {len(contacts) or 'no'} "
                           f"contact{'s' if len(contacts) != 1 else ''} to evaluate its expressions for",
            "add `contact: ID` to the case" if contacts else "give the contact under `contacts:`")))


_EXPECTED_AMOUNTS = [name for name, info in Expectation.model_fields.items()
                     if any(isinstance(m, AmountMark) for m in _marks(info))]
"""The amounts an expectation gives (`discount: 6.00 EUR`), found by their mark in the form."""


def _expectation_mistakes(located: Located, loc: tuple[str | int, ...], check: dict[str, Any],
                          case: dict[str, Any], ruleset: RuleSet, found: Found) -> bool:
    """The mistakes of one expectation; whether it is an expression (evaluated for a contact)."""
    for key in ("applied", "not_applied", "qualify"):
        if isinstance(check.get(key), str) and check[key] not in ruleset.promotions:
            _unknown(located, (*loc, key), check[key], ruleset.promotions, "promotion", found)
    if isinstance(check.get("segment"), str) and check["segment"] not in ruleset.segments:
        _unknown(located, (*loc, "segment"), check["segment"], ruleset.segments, "segment", found, "E281")
    for key in _EXPECTED_AMOUNTS:
        value = check.get(key)
        for part, amount in (value.items() if isinstance(value, dict) else [((), value)]):
            _amount(located, (*loc, key, *((part,) if part != () else ())), amount, ruleset, found)
    if isinstance(check.get("expression"), str):
        found.extend(((*loc, "expression"), d) for d in _expression_mistakes(located, (*loc, "expression"), ruleset))
        if "equals" not in check:
            found.append(((*loc, "equals"), Diagnostic.at(
                located.span((*loc, "expression"), key=True), "E031", "`equals` is missing",
                "add `equals:` with the value the expression must have (`equals: null` for none)")))
        return True
    if check.get("segment") is not None:
        return False
    carts = [key for key in CART_KEYS if check.get(key) is not None]
    if carts and case.get("cart") is None:
        found.append(((*loc, carts[0]), Diagnostic.at(
            located.span((*loc, carts[0]), key=True), "E031", f"`{carts[0]}` is about a cart, and the case has no `cart`",
            "give the case a `cart:` with its `currency:` and `items:`")))
    elif not carts and set(check) <= set(Expectation.model_fields):
        found.append((loc, Diagnostic.at(
            located.span(loc), "E031", "this expectation checks nothing",
            "give one of `segment:`, `expression:`, `applied:`, `not_applied:`, `refused:`, `qualify:`, "
            "`total:` or `discount:`")))
    return False


def _amount(located: Located, loc: tuple[str | int, ...], value: Any, ruleset: RuleSet, found: Found) -> None:
    if not isinstance(value, str):
        return
    try:
        Money.parse(value, ruleset.currency)
    except ValueError as error:
        where = ".".join(str(part) for part in loc)
        found.append((loc, Diagnostic.at(located.span(loc), "E032", f"`{where}`: not an amount ({error})",
                                         f"write an amount such as `12.50` or `12.50 {ruleset.currency}`")))


def _expression_mistakes(located: Located, loc: tuple[str | int, ...], ruleset: RuleSet) -> list[Diagnostic]:
    """The errors of an expression written in the test file, at their place in the file."""
    text, line, column = scalar_origin(located, loc)
    try:
        compile_expression(text, ruleset, path=located.path, line=line, column=column)
    except RuleSetError as error:
        return list(error.diagnostics)
    return []


def _items(located: Located, loc: tuple[str | int, ...]) -> list[yaml.Node]:
    node = located.nodes.get(loc)
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _float_at(located: Located, loc: tuple[str | int, ...],
              kind: str = "money") -> list[tuple[tuple[str | int, ...], Diagnostic]]:
    node = located.nodes.get(loc)
    if not isinstance(node, yaml.ScalarNode) or node.style is not None or not node.tag.endswith(":float"):
        return []
    where = ".".join(str(part) for part in loc)
    what = "an amount" if kind == "money" else "a percentage" if kind == "percent" else "a number"
    key = "" if isinstance(loc[-1], int) else f"{loc[-1]}: "
    fix = ("write it with its % sign, in quotes, e.g. `\"5%\"`" if kind == "percent"
           else f"write it as text, in quotes: `{key}\"{node.value}\"`")
    return [(loc, Diagnostic.at(located.span(loc), "E032",
                                f"`{where}`: {what} must be exact, and `{node.value}` is a decimal number (a float)",
                                f"{fix}; the engine refuses floats, as it would refuse them from a shop"))]

"""`relance.load(path)`: read a rule set folder (or one file), check it whole, compile it.

Every problem of every file is collected before anything is refused, and nothing is compiled
unless the whole rule set checks: a rule set is applied entirely or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError

from relance.engine.backends.codegen import compile_function
from relance.engine.data import types as T
from relance.engine.data.context import zone
from relance.engine.data.datamodel import RECORDS
from relance.engine.data.money import MINOR_UNITS, is_currency
from relance.engine.language.checker import Annotations, Checker, Environment, describe
from relance.engine.language.forms import (
    LANGUAGE_VERSION,
    PROJECT_FILES,
    ProjectFile,
    PromotionForm,
    RulesForm,
    SegmentForm,
    attribute_type,
)
from relance.engine.language.yamlsource import Located, YamlFailure, load_located, scalar_origin
from relance.engine.ruleset.promotion import compile_promotion
from relance.engine.ruleset.ruleset import RuleSet, Segment
from relance.grammar import ast as A
from relance.grammar.diagnostics import Diagnostic, RuleSetError, did_you_mean, one_of
from relance.grammar.parser import (
    MAX_SOURCE_CHARS,
    ParseFailure,
    parse_clause,
    parse_expression,
    parse_reward,
    parse_rules,
)

RULE_SUFFIXES = (".rules", ".yaml", ".yml")
TEST_SUFFIXES = (".test.yaml", ".test.yml")
NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


def is_test_file(path: Path) -> bool:
    return path.name.endswith(TEST_SUFFIXES)


def rule_files(root: Path) -> list[Path]:
    """The rule files of a folder, sorted; hidden folders, tests and the project file skipped."""
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix in RULE_SUFFIXES and not is_test_file(path) and path.name not in PROJECT_FILES:
            found.append(path)
    return found


def find_project_file(folder: Path) -> Path | None:
    for name in PROJECT_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


class _Loader:
    def __init__(self, root: Path, display_root: Path):
        self.root = root
        self.display_root = display_root
        self.diagnostics: list[Diagnostic] = []
        self.sources: dict[str, str] = {}
        self.declarations: list[A.Declaration] = []

    def display(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.display_root))
        except ValueError:
            return str(path)

    def read(self, path: Path) -> str | None:
        shown = self.display(path)
        try:
            size = path.stat().st_size
            if size > MAX_SOURCE_CHARS * 4:
                self.diagnostics.append(Diagnostic(shown, 1, 1, 1, 1, "E001",
                                                   f"this file has {size:,} bytes; a rule file may have at most "
                                                   f"{MAX_SOURCE_CHARS:,} characters", "split it into several files"))
                return None
            raw = path.read_bytes()
            text = raw.decode("utf-8-sig")  # a byte-order mark (Excel, Notepad) is not content
        except UnicodeDecodeError as error:
            line = raw.count(b"\n", 0, error.start) + 1
            column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
            self.diagnostics.append(Diagnostic(shown, line, column, line, column + 1, "E003",
                                               "this file is not UTF-8 text: the byte here is not a character",
                                               "save the file as UTF-8 (in most editors: Save as... > Encoding)"))
            return None
        except OSError as error:
            self.diagnostics.append(Diagnostic(shown, 1, 1, 1, 1, "E004", f"cannot read this file: {error.strerror}"))
            return None
        if len(text) > MAX_SOURCE_CHARS:
            self.diagnostics.append(Diagnostic(shown, 1, 1, 1, 1, "E001",
                                               f"this file has {len(text):,} characters; a rule file may have at most "
                                               f"{MAX_SOURCE_CHARS:,}", "split it into several files"))
            return None
        self.sources[shown] = text
        return text

    # ---- YAML helpers ----

    def located(self, path: Path) -> Located | None:
        text = self.read(path)
        if text is None:
            return None
        try:
            return load_located(text, self.display(path))
        except YamlFailure as failure:
            self.diagnostics.append(failure.diagnostic)
            return None

    def validate(self, located: Located, model: type[BaseModel], what: str) -> Any:
        data = located.data if located.data is not None else {}
        try:
            return model.model_validate(data)
        except ValidationError as error:
            for item in error.errors():
                self.diagnostics.append(_form_diagnostic(located, item, model, what))
            return None

    # ---- project file ----

    def project(self) -> ProjectFile:
        path = find_project_file(self.root)
        if path is None:
            return ProjectFile()
        located = self.located(path)
        if located is None:
            return ProjectFile()
        project = self.validate(located, ProjectFile, "the project file")
        if project is None:  # keep what is valid, so that every problem shows at once
            data = located.data if isinstance(located.data, dict) else {}
            try:
                ProjectFile.model_validate(data)
            except ValidationError as error:
                wrong = {item["loc"][0] for item in error.errors() if item["loc"]}
                wrong_attributes = {item["loc"][1] for item in error.errors()
                                    if len(item["loc"]) > 1 and item["loc"][0] == "attributes"}
                kept = {k: v for k, v in data.items() if k in ProjectFile.model_fields and k not in wrong}
                if wrong_attributes and isinstance(data.get("attributes"), dict):
                    kept["attributes"] = {k: v for k, v in data["attributes"].items() if k not in wrong_attributes}
                try:
                    project = ProjectFile.model_validate(kept)
                except ValidationError:
                    return ProjectFile()
        if project.relance != LANGUAGE_VERSION:
            self.diagnostics.append(Diagnostic.at(located.span(("relance",)), "E020",
                                                  f"this is language version {project.relance}; this relance reads "
                                                  f"version {LANGUAGE_VERSION}", "upgrade relance, or set `relance: 1`"))
        if not is_currency(project.currency):
            self.diagnostics.append(Diagnostic.at(located.span(("currency",)), "E201",
                                                  f"`{project.currency}` is not a currency code",
                                                  did_you_mean(project.currency, MINOR_UNITS) or "use EUR, USD, GBP..."))
        try:
            zone(project.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self.diagnostics.append(Diagnostic.at(located.span(("timezone",)), "E203",
                                                  f"`{project.timezone}` is not a known time zone",
                                                  did_you_mean(project.timezone, _common_zones())
                                                  or "use an IANA name such as Europe/Paris"))
        for name, text in project.attributes.items():
            span = located.span(("attributes", name), key=True)
            if not NAME.match(name):
                self.diagnostics.append(Diagnostic.at(span, "E021", f"`{name}` is not a valid attribute name",
                                                      "use lowercase letters, digits and _"))
            elif name in RECORDS["contact"] or name == "attributes":
                self.diagnostics.append(Diagnostic.at(span, "E022", f"`{name}` is already a contact field",
                                                      "choose another name"))
            if isinstance(text, str) and text.strip() == "duration":
                self.diagnostics.append(Diagnostic.at(located.span(("attributes", name)), "E023",
                                                      "a contact attribute cannot be a duration",
                                                      "store a number of days (`number`) or a date instead"))
            elif attribute_type(text) is None:
                self.diagnostics.append(Diagnostic.at(located.span(("attributes", name)), "E023",
                                                      f"`{text}` is not a type",
                                                      f"use {one_of(['string', 'text', 'number', 'percent', 'money', 'bool', 'date', 'datetime'])}, "
                                                      "or a list such as `list of string`"))
        if project.guards.max_discount is not None and guard_value(project.guards.max_discount) is None:
            self.diagnostics.append(Diagnostic.at(located.span(("guards", "max_discount")), "E024",
                                                  f"`{project.guards.max_discount}` is not a percentage from 0% to 100% "
                                                  "or an amount", "write e.g. `50%` (of the subtotal) or `100 EUR`"))
        return project

    # ---- rule files ----

    def rules_file(self, path: Path) -> None:
        text = self.read(path)
        if text is None:
            return
        tree, problems = parse_rules(text, self.display(path))
        self.diagnostics.extend(problems)
        self.declarations.extend(tree.declarations)

    def yaml_file(self, path: Path) -> None:
        """Each declaration is validated on its own, so one bad entry hides no other problem."""
        located = self.located(path)
        if located is None or located.data is None:
            return
        data = located.data
        if not isinstance(data, dict):
            self.diagnostics.append(Diagnostic.at(located.span(()), "E032",
                                                  "a rule file holds `segments:` and `promotions:` mappings"))
            return
        for key in data:
            if key not in RulesForm.model_fields:
                self.diagnostics.append(Diagnostic.at(located.span((key,), key=True), "E030",
                                                      f"unknown key `{key}` in a rule file",
                                                      did_you_mean(key, RulesForm.model_fields)
                                                      or f"allowed here: {one_of(RulesForm.model_fields)}"))
        for kind, form in (("segments", SegmentForm), ("promotions", PromotionForm)):
            entries = data.get(kind) or {}
            if not isinstance(entries, dict):
                self.diagnostics.append(Diagnostic.at(located.span((kind,)), "E032",
                                                      f"`{kind}` must map names to declarations"))
                continue
            for name, entry in entries.items():
                spec = self.validate_at(located, form, (kind, name), entry)
                if spec is None:
                    continue
                if kind == "segments":
                    condition = self.dsl(located, (kind, name, "when"), parse_expression)
                    if condition is not None:
                        self.declarations.append(A.SegmentDecl(name, spec.title, condition,
                                                               span=located.span((kind, name), key=True)))
                else:
                    decl = self.yaml_promotion(located, name, spec)
                    if decl is not None:
                        self.declarations.append(decl)

    def validate_at(self, located: Located, model: type[BaseModel], loc: tuple[str, ...], data: Any) -> Any:
        try:
            return model.model_validate(data if data is not None else {})
        except ValidationError as error:
            for item in error.errors():
                item = {**item, "loc": (*loc, *item["loc"])}
                self.diagnostics.append(_form_diagnostic(located, item, RulesForm, "a rule file"))
            return None

    def dsl(self, located: Located, loc: tuple[str | int, ...], parse: Any) -> Any:
        text, line, column = scalar_origin(located, loc)
        try:
            return parse(text, located.path, line, column)
        except ParseFailure as failure:
            self.diagnostics.extend(failure.diagnostics)
            return None

    def yaml_promotion(self, located: Located, name: str, promo: Any) -> A.PromotionDecl | None:
        base = ("promotions", name)
        clauses: list[A.Clause] = []
        expires = None
        if promo.code_expires_after is not None:
            expires = self.dsl(located, (*base, "code_expires_after"), parse_expression)
            if expires is not None and not isinstance(expires, A.DurationLit):
                self.diagnostics.append(Diagnostic.at(expires.span, "E322", "a code lifetime is a duration",
                                                      "write e.g. `30 days`"))
                expires = None
            if not (promo.code_pattern or promo.code_imported):
                self.diagnostics.append(Diagnostic.at(located.span((*base, "code_expires_after"), key=True), "E323",
                                                      "only pool codes expire after their issue",
                                                      "add `code_pattern: \"WELC-####\"` or `code_imported: true`; "
                                                      "for a public code, use `valid: until ...`"))
        for key, unique in (("code", False), ("code_pattern", True), ("code_imported", True)):
            value = getattr(promo, key)
            if value is not None and value is not False:
                text = "" if value is True else value
                clauses.append(A.CodeClause(unique, text, expires if unique else None,
                                            span=located.span((*base, key))))
        if promo.when is not None:
            cond = self.dsl(located, (*base, "when"), parse_expression)
            if cond is not None:
                clauses.append(A.WhenClause(cond, span=cond.span))
        rewards = promo.reward if isinstance(promo.reward, list) else [promo.reward]
        for index in range(len(rewards)):
            loc = (*base, "reward", index) if isinstance(promo.reward, list) else (*base, "reward")
            reward = self.dsl(located, loc, parse_reward)
            if reward is not None:
                clauses.append(A.RewardClause(reward, span=reward.span))
        for key, keyword in (("exclude", "exclude"), ("limit", "limit"), ("valid", "valid"), ("only", "only"),
                             ("combines_with", "combines with")):
            if getattr(promo, key) is not None:
                clause = self.dsl(located, (*base, key), _clause_parser(keyword))
                if clause is not None:
                    clauses.append(clause)
        if promo.priority is not None:
            clauses.append(A.PriorityClause(promo.priority, span=located.span((*base, "priority"))))
        if promo.exclusive:
            clauses.append(A.ExclusiveClause(span=located.span((*base, "exclusive"))))
        if promo.base is not None:
            clauses.append(A.BaseClause(promo.base.startswith("before"), span=located.span((*base, "base"))))
        return A.PromotionDecl(name, promo.title, tuple(clauses), span=located.span(base, key=True))


def _clause_parser(keyword: str) -> Any:
    return lambda text, path, line, column: parse_clause(keyword, text, path, line, column)


def _form_diagnostic(located: Located, item: Any, model: type[BaseModel], what: str) -> Diagnostic:
    loc = tuple(item["loc"])
    kind = item["type"]
    if kind == "extra_forbidden":
        parent = loc[:-1]
        allowed = _allowed_keys(model, parent)
        hint = did_you_mean(str(loc[-1]), allowed) or (f"allowed here: {one_of(allowed)}" if allowed else None)
        return Diagnostic.at(located.span(loc, key=True), "E030", f"unknown key `{loc[-1]}` in {what}", hint)
    if kind == "missing":
        return Diagnostic.at(located.span(loc[:-1], key=True), "E031", f"`{loc[-1]}` is missing",
                             f"add `{loc[-1]}:` here")
    where = ".".join(str(p) for p in loc)
    message = item["msg"].lower()
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        message = "expected keys and values here (`key: value` lines, indented under it)"
    elif kind == "string_type":
        message = "expected a single value here, not a list or mapping"
    return Diagnostic.at(located.span(loc), "E032", f"`{where}`: {message}")


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a YAML mapping may have at `loc` (following nested models and dicts of them)."""
    current: Any = model
    for part in loc:
        if current is None:
            return []
        if isinstance(part, int):  # a position in a list: the list's items have its model
            continue
        if isinstance(current, _DictOf):
            current = current.model
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            current = _model_in(field.annotation) if field else None
        else:
            current = None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    args = getattr(annotation, "__args__", ())
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in args:
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return _DictOf(arg) if getattr(annotation, "__origin__", None) is dict else arg
    return None


class _DictOf:
    """A mapping whose values are `model`: its keys are free names, its values models."""

    def __init__(self, model: type[BaseModel]):
        self.model = model


def _common_zones() -> list[str]:
    return ["UTC", "Europe/Paris", "Europe/London", "Europe/Berlin", "Europe/Brussels", "Europe/Madrid",
            "Europe/Rome", "America/New_York", "America/Chicago", "America/Los_Angeles", "Asia/Tokyo"]


# ---- checking ----


def check_declarations(declarations: Iterable[A.Declaration], env: Environment, ann: Annotations,
                       diagnostics: list[Diagnostic]) -> dict[str, tuple[str, ...]]:
    """Type every declaration; returns each segment's segment dependencies."""
    checker = Checker(env, ann, diagnostics)
    depends: dict[str, tuple[str, ...]] = {}
    for decl in declarations:
        checker.segment_refs = []
        if isinstance(decl, A.SegmentDecl):
            checker.check_condition(decl.condition, "segment", "a segment's condition")
            depends[decl.name] = tuple(dict.fromkeys(name for name, _ in checker.segment_refs))
        elif isinstance(decl, A.PromotionDecl):
            _check_promotion(decl, checker)
    return depends


def _check_promotion(decl: A.PromotionDecl, checker: Checker) -> None:
    seen: dict[type, A.Clause] = {}
    for clause in decl.clauses:
        single = not isinstance(clause, A.RewardClause)
        if single and type(clause) in seen:
            checker.error(clause, "E311", "this clause is given twice in the same promotion",
                          "merge them into one (join conditions with `and`, limits with `,`)")
        seen.setdefault(type(clause), clause)
        if isinstance(clause, A.WhenClause):
            checker.check_condition(clause.condition, "checkout", "a promotion's condition")
        elif isinstance(clause, A.RewardClause):
            _check_reward(clause.reward, checker)
        elif isinstance(clause, A.ExcludeClause):
            _check_items(clause.items, checker)
        elif isinstance(clause, A.CodeClause) and clause.unique and clause.value:
            if clause.expires_after is not None and clause.expires_after.amount < 1:
                checker.error(clause.expires_after, "E321", "codes must last at least 1 unit of time")
            if not any(ch in clause.value for ch in "#?*"):
                checker.error(clause, "E320", f"the pattern \"{clause.value}\" has no random part",
                              "use # for a digit, ? for a letter, * for either: \"WELC-####-????\"")
        elif isinstance(clause, A.LimitClause):
            _check_limits(clause, checker)
        elif isinstance(clause, A.ValidClause):
            _check_validity(clause, checker)
        elif isinstance(clause, A.OnlyClause):
            _check_only(clause, checker)
        elif isinstance(clause, A.CombinesClause):
            if "nothing" in clause.classes and len(clause.classes) > 1:
                checker.error(clause, "E361", "`nothing` cannot be combined with other classes",
                              "write `combines with nothing`, or list the classes it stacks with")
        elif isinstance(clause, A.CodeClause) and clause.expires_after is not None and \
                clause.expires_after.amount < 1:  # `code imported expires after ...`
            checker.error(clause.expires_after, "E321", "codes must last at least 1 unit of time")
    if A.ExclusiveClause in seen and A.CombinesClause in seen:
        checker.error(seen[A.CombinesClause], "E360", "an exclusive promotion combines with nothing",
                      "remove `exclusive`, or remove `combines with ...`")
    code = seen.get(A.CodeClause)
    limits = seen.get(A.LimitClause)
    if isinstance(limits, A.LimitClause):
        for limit in limits.limits:
            if limit.unit == "code" and not (isinstance(code, A.CodeClause) and code.unique):
                checker.error(limit, "E342", "`per code` limits the uses of each code of a pool, "
                              "but this promotion has no pool of codes",
                              "write `N total` for a public code, or `code unique pattern \"...\"`")
    from_yaml = decl.span is not None and decl.span.path.endswith((".yaml", ".yml"))
    if A.RewardClause not in seen and not from_yaml:  # YAML requires `reward:`; a bad one is reported
        checker.error(decl, "E310", f"promotion `{decl.name}` has no reward",
                      "add a line such as `reward 10% off order`")


def _check_items(target: A.ItemsTarget, checker: Checker) -> None:
    if target.where is None:
        return
    checker.scope = "checkout"
    checker.elements = ["item"]
    typ = checker.visit(target.where)
    checker.elements = []
    if typ is not None and typ.kind not in ("bool", "null"):
        checker.error(target.where, "E210", "an items filter must be true or false")


def _check_reward(reward: A.Reward, checker: Checker) -> None:
    def value(node: A.Expr, kinds: tuple[str, ...], what: str) -> T.Type | None:
        typ = checker.check(node, "checkout")
        if typ is not None and typ.kind not in kinds:
            checker.error(node, "E330", f"{what} must be {' or '.join(_KIND_WORDS[k] for k in kinds)}, "
                          f"not {describe(typ)}")
            return None
        return typ

    if isinstance(reward, A.RewardOff):
        typ = value(reward.amount, ("percent", "money"), "a discount")
        if isinstance(reward.amount, A.Percent) and not 0 < reward.amount.value <= 100:
            checker.error(reward.amount, "E331", "a percentage discount must be above 0% and at most 100%")
        if reward.cap is not None:
            cap = value(reward.cap, ("money",), "a cap (`up to`)")
            if cap is not None and typ is not None and typ.kind == "money":
                checker.error(reward.cap, "E332", "`up to` caps a percentage; an amount is already fixed",
                              "remove `up to ...`")
        if isinstance(reward.target, A.ItemsTarget):
            _check_items(reward.target, checker)
    elif isinstance(reward, A.BuyXGetY):
        if reward.buy < 1 or reward.get < 1:
            checker.error(reward, "E333", "buy and get need at least 1 unit each")
        if reward.discount is not None:
            value(reward.discount, ("percent", "money"), "a discount")
        if reward.items is not None:
            _check_items(reward.items, checker)
        if reward.times is not None and reward.times < 1:
            checker.error(reward, "E334", "`up to N times` needs N of at least 1")
    elif isinstance(reward, A.FixedPrice):
        value(reward.price, ("money",), "a fixed price")
        _check_items(reward.items, checker)


_KIND_WORDS = {"percent": "a percentage such as `10%`", "money": "an amount such as `5 EUR`"}


def _check_limits(clause: A.LimitClause, checker: Checker) -> None:
    seen: set[tuple[str, str | None, str | None]] = set()
    for limit in clause.limits:
        key = (limit.kind, limit.unit, limit.period)
        if key in seen:
            checker.error(limit, "E340", "this limit is given twice")
        seen.add(key)
        if limit.period is not None and (limit.unit != "contact" or limit.period not in ("day", "week", "month")):
            swapped = limit.period == "contact" and limit.unit in ("day", "week", "month")
            checker.error(limit, "E343", f"`per {limit.unit} per {limit.period}` is not a limit",
                          f"write `{limit.count} per contact per {limit.unit}`" if swapped else
                          f"a customer's uses per period: `{limit.count} per contact per day` (or `week`, `month`)")
        if limit.kind in ("per", "total") and limit.count < 1:
            checker.error(limit, "E341", "a limit must be at least 1",
                          "to stop a promotion, end its period with `valid until ...` or remove it")
        if limit.budget is not None:
            checker.check_currency(limit.budget)


def guard_value(text: str) -> Any:
    """`50%` -> Decimal("0.5"); `100 EUR` -> Money; anything else -> None."""
    from decimal import Decimal, InvalidOperation

    from relance.engine.data.money import Money

    text = str(text).strip()
    try:
        if text.endswith("%"):
            value = Decimal(text[:-1]) / 100
            return value if 0 <= value <= 1 else None
        return Money.parse(text)
    except (ValueError, InvalidOperation):
        return None


def _guards(project: ProjectFile) -> dict[str, Any]:
    guards: dict[str, Any] = {"exclusive": project.guards.exclusive}
    if project.guards.max_discount is not None:
        guards["max_discount"] = guard_value(project.guards.max_discount)
    return guards


def _check_only(clause: A.OnlyClause, checker: Checker) -> None:
    seen: set[str] = set()
    for item in clause.restrictions:
        if item.kind in seen:
            checker.error(item, "E362", f"`{item.kind.replace('_', ' ')}` is given twice",
                          "join the values with `or`: `country \"FR\" or \"BE\"`")
        seen.add(item.kind)
        if item.kind == "segment" and item.segment is not None:
            checker.check(A.InSegment(A.Name("contact", span=item.span), item.segment, False, span=item.span),
                          "checkout")
        elif item.kind == "country":
            for value in item.values:
                if not re.fullmatch(r"[A-Z]{2}", value):
                    checker.error(item, "E363", f"\"{value}\" is not an ISO country code",
                                  f"write two capital letters, e.g. \"{value[:2].upper() or 'FR'}\"")
        elif item.kind == "language":
            for value in item.values:
                if not re.fullmatch(r"[a-z]{2}(-[A-Z]{2})?", value):
                    checker.error(item, "E363", f"\"{value}\" is not an ISO language code",
                                  f"write two lowercase letters, e.g. \"{value[:2].lower() or 'fr'}\"")


def _check_validity(clause: A.ValidClause, checker: Checker) -> None:
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    for item in clause.items:
        if item.kind == "between" and item.start is not None and item.end is not None:
            for node in (item.start, item.end):
                checker.check(node, "checkout")
            start, end = item.start.value, item.end.value
            if _as_date(start) > _as_date(end):
                checker.error(item, "E350", "this period ends before it starts", "swap the two dates")
        elif item.kind == "days":
            for first, last in item.days:
                if days.index(first) > days.index(last):
                    checker.error(item, "E351", f"`{first}-{last}` goes backwards",
                                  f"write `{last}-{first}`, or list the days: `days sat sun`")
        elif item.kind == "hours" and item.hours is not None and item.hours[0] == item.hours[1]:
            checker.error(item, "E352", "these hours are empty", "write e.g. `hours 08:00-20:00`")


def _as_date(value: Any) -> Any:
    return value.date() if hasattr(value, "date") and callable(value.date) else value


def _cycles(depends: dict[str, tuple[str, ...]]) -> list[list[str]]:
    """Segment reference cycles, each as the loop of names (iterative DFS)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}
    for start in depends:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            name, index = stack.pop()
            if index == 0:
                state[name] = 1
                path.append(name)
            deps = depends.get(name, ())
            if index < len(deps):
                stack.append((name, index + 1))
                nxt = deps[index]
                if state.get(nxt) == 1:
                    found.append(path[path.index(nxt):] + [nxt])
                elif not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[name] = 2
                path.pop()
    return found


def _topological(depends: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    order: list[str] = []
    done: set[str] = set()
    for start in depends:
        stack = [(start, iter(depends.get(start, ())))]
        if start in done:
            continue
        while stack:
            name, deps = stack[-1]
            nxt = next((d for d in deps if d not in done), None)
            if nxt is not None and nxt in depends:
                stack.append((nxt, iter(depends.get(nxt, ()))))
                continue
            stack.pop()
            if name not in done:
                done.add(name)
                order.append(name)
    return tuple(order)


def _enclosing_rule_set(folder: Path) -> Path:
    """The folder itself if it has a project file, else the nearest parent that has one (a
    sub-folder of a rule set is checked with the whole set), else the folder."""
    for candidate in (folder, *folder.resolve().parents):
        if find_project_file(candidate) is not None:
            return candidate
    return folder


def load(path: str | Path) -> RuleSet:
    """Load, check and compile a rule set; raises `RuleSetError` with every diagnostic.

    `path` is the rule set's folder, or one of its files (the whole set is loaded then, since
    declarations refer to each other across files), or a lone rule file with no project file.
    """
    target = Path(path)
    if not target.exists():
        raise RuleSetError([Diagnostic(str(path), 1, 1, 1, 1, "E005", "no such file or folder",
                                       "give the folder of the rule set, e.g. `rules/examples`")])
    root = _enclosing_rule_set(target if target.is_dir() else target.parent)
    display_root = Path.cwd()
    try:
        root.resolve().relative_to(display_root.resolve())
        display_root = display_root.resolve()
        root = root.resolve()
        target = target.resolve()
    except ValueError:
        display_root = root
    loader = _Loader(root, display_root)
    project = loader.project()
    whole = target.is_dir() or find_project_file(root) is not None  # a file of a rule set: the whole set
    files = rule_files(root) if whole else [target]
    for file in files:
        if file.suffix == ".rules":
            loader.rules_file(file)
        else:
            loader.yaml_file(file)
    return build(loader.declarations, project, loader.diagnostics, loader.sources, root)


def _missing_segment(diagnostic: Diagnostic) -> str:
    match = re.search(r"there is no segment `([^`]+)`", diagnostic.message)
    return match.group(1) if match else ""


def broken_names(sources: dict[str, str], diagnostics: list[Diagnostic]) -> set[str]:
    """Names of declarations that failed to parse or validate (they exist, just broken)."""
    names: set[str] = set()
    for diagnostic in diagnostics:
        if diagnostic.code >= "E200":
            continue
        text = sources.get(diagnostic.path, "")
        lines = text.splitlines()[: diagnostic.line]
        for line in reversed(lines):  # the declaration this error sits in: .rules header or YAML key
            match = re.match(r"(?:segment|promotion)\s+([a-z_][a-z0-9_]*)", line) or \
                re.match(r"  ([A-Za-z_][A-Za-z0-9_]*)\s*:\s*$", line)
            if match:
                names.add(match.group(1))
                break
    return names


def build(declarations: list[A.Declaration], project: ProjectFile, diagnostics: list[Diagnostic],
          sources: dict[str, str], root: Path | None) -> RuleSet:
    """Check parsed declarations as one rule set and compile it (shared by files and tests)."""
    diagnostics = list(diagnostics)
    broken = broken_names(sources, diagnostics)
    attributes = {name: typ for name, text in project.attributes.items()
                  if (typ := attribute_type(text)) is not None}
    by_name: dict[str, A.Declaration] = {}
    for decl in declarations:
        if not NAME.match(decl.name):
            diagnostics.append(Diagnostic.at(decl.span, "E301", f"`{decl.name}` is not a valid name",
                                             "use lowercase letters, digits and _ (e.g. `new_customers`)"))
        if decl.name in by_name:
            first = by_name[decl.name]
            where = f"{first.span.path}:{first.span.line}" if first.span else "elsewhere"
            diagnostics.append(Diagnostic.at(decl.span, "E300", f"`{decl.name}` is already declared at {where}",
                                             "names are global to a rule set: rename one of them"))
            continue
        by_name[decl.name] = decl
    segments = {n: d for n, d in by_name.items() if isinstance(d, A.SegmentDecl)}
    promotions = {n: d for n, d in by_name.items() if isinstance(d, A.PromotionDecl)}
    env = Environment(attributes, segments, project.currency if is_currency(project.currency) else "EUR")
    ann = Annotations()
    depends = check_declarations(by_name.values(), env, ann, diagnostics)
    for cycle in _cycles(depends):
        decl = segments[cycle[0]]
        diagnostics.append(Diagnostic.at(decl.span, "E282", "segments refer to each other in a loop: "
                                         + " -> ".join(cycle), "one of them must not use the other"))
    if broken:  # a declaration that did not parse is still a name others may refer to: no cascade
        diagnostics = [d for d in diagnostics if not (d.code == "E281" and _missing_segment(d) in broken)]
    if any(d.severity == "error" for d in diagnostics):
        raise RuleSetError(diagnostics, sources)
    try:
        tz = zone(project.timezone)
    except (ZoneInfoNotFoundError, ValueError):  # reported above; unreachable when checked
        tz = ZoneInfo("UTC")
    holder: dict[str, RuleSet] = {}

    def lookup(name: str, ctx: Any) -> bool:
        return holder["rules"].in_segment(name, ctx)

    compiled = {}
    for name, decl in segments.items():
        fn = compile_function(decl.condition, ann, env.currency, tz, lookup, f"segment {name}", as_condition=True)
        compiled[name] = Segment(name, decl.title, decl.condition, fn, depends.get(name, ()))
    promos = {}
    for name, decl in promotions.items():
        when = next((c.condition for c in decl.clauses if isinstance(c, A.WhenClause)), None)
        fn = compile_function(when, ann, env.currency, tz, lookup, f"promotion {name}", as_condition=True) \
            if when is not None else None
        promos[name] = compile_promotion(decl, ann, env.currency, tz, lookup, fn)
    rules = RuleSet(root=root, name=project.name, currency=env.currency, timezone_name=project.timezone,
                    timezone=tz, attributes=attributes, guards=_guards(project),
                    channels=tuple(project.channels), segments=compiled, promotions=promos,
                    annotations=ann, sources=sources, segment_order=_topological(depends))
    holder["rules"] = rules
    from relance.engine.ruleset.sql_check import sql_diagnostics

    problems = sql_diagnostics(rules)
    if problems:
        raise RuleSetError(problems, sources)
    return rules

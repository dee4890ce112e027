"""Reading a rule set's files into declarations: text with its limits (size, UTF-8), the project file, `.rules` files, and YAML declarations with the position of every value."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError

from relance.engine.data.context import zone
from relance.engine.data.datamodel import RECORDS
from relance.engine.data.money import MINOR_UNITS, is_currency
from relance.engine.language.declarations import NAME, guard_value
from relance.engine.language.files import find_project_file
from relance.engine.language.form_errors import form_diagnostic
from relance.engine.language.forms import (
    LANGUAGE_VERSION,
    ProjectFile,
    PromotionForm,
    RulesForm,
    SegmentForm,
    attribute_type,
)
from relance.engine.language.yamlsource import Located, YamlFailure, load_located, scalar_origin
from relance.grammar import ast as A
from relance.grammar.diagnostics import Diagnostic, did_you_mean, one_of
from relance.grammar.parser import (
    MAX_SOURCE_CHARS,
    ParseFailure,
    parse_clause,
    parse_expression,
    parse_reward,
    parse_rules,
)


class Reader:
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
                self.diagnostics.append(form_diagnostic(located, item, model, what))
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
                self.diagnostics.append(form_diagnostic(located, item, RulesForm, "a rule file"))
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


def _common_zones() -> list[str]:
    return ["UTC", "Europe/Paris", "Europe/London", "Europe/Berlin", "Europe/Brussels", "Europe/Madrid",
            "Europe/Rome", "America/New_York", "America/Chicago", "America/Los_Angeles", "Asia/Tokyo"]

"""`relance.load(path)`: read a rule set folder (or one file), check it whole, compile it.

Every problem of every file is collected before anything is refused, and nothing is compiled
unless the whole rule set checks: a rule set is applied entirely or not at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from relance.engine.backends.codegen import compile_function
from relance.engine.data.context import zone
from relance.engine.data.money import is_currency
from relance.engine.language.annotations import Annotations
from relance.engine.language.checker import Environment
from relance.engine.language.declarations import (
    NAME,
    broken_names,
    check_declarations,
    cycles,
    guard_value,
    missing_segment,
    topological,
)
from relance.engine.language.files import enclosing_rule_set, find_project_file, rule_files
from relance.engine.language.forms import (
    ProjectFile,
    attribute_type,
)
from relance.engine.language.reader import Reader
from relance.engine.ruleset.promotion import compile_promotion
from relance.engine.ruleset.ruleset import RuleSet, Segment
from relance.engine.ruleset.sql_check import sql_diagnostics
from relance.grammar import ast as A
from relance.grammar.diagnostics import Diagnostic, RuleSetError

# ---- checking ----


def _guards(project: ProjectFile) -> dict[str, Any]:
    guards: dict[str, Any] = {"exclusive": project.guards.exclusive}
    if project.guards.max_discount is not None:
        guards["max_discount"] = guard_value(project.guards.max_discount)
    return guards


def load(path: str | Path) -> RuleSet:
    """Load, check and compile a rule set; raises `RuleSetError` with every diagnostic.

    `path` is the rule set's folder, or one of its files (the whole set is loaded then, since
    declarations refer to each other across files), or a lone rule file with no project file.
    """
    target = Path(path)
    if not target.exists():
        raise RuleSetError([Diagnostic(str(path), 1, 1, 1, 1, "E005", "no such file or folder",
                                       "give the folder of the rule set, e.g. `rules/examples`")])
    root = enclosing_rule_set(target if target.is_dir() else target.parent)
    display_root = Path.cwd()
    try:
        root.resolve().relative_to(display_root.resolve())
        display_root = display_root.resolve()
        root = root.resolve()
        target = target.resolve()
    except ValueError:
        display_root = root
    loader = Reader(root, display_root)
    project = loader.project()
    whole = target.is_dir() or find_project_file(root) is not None  # a file of a rule set: the whole set
    files = rule_files(root) if whole else [target]
    for file in files:
        if file.suffix == ".rules":
            loader.rules_file(file)
        else:
            loader.yaml_file(file)
    return build(loader.declarations, project, loader.diagnostics, loader.sources, root)


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
    for cycle in cycles(depends):
        decl = segments[cycle[0]]
        diagnostics.append(Diagnostic.at(decl.span, "E282", "segments refer to each other in a loop: "
                                         + " -> ".join(cycle), "one of them must not use the other"))
    if broken:  # a declaration that did not parse is still a name others may refer to: no cascade
        diagnostics = [d for d in diagnostics if not (d.code == "E281" and missing_segment(d) in broken)]
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
                    annotations=ann, sources=sources, segment_order=topological(depends))
    holder["rules"] = rules

    problems = sql_diagnostics(rules)
    if problems:
        raise RuleSetError(problems, sources)
    return rules

"""A YAML form that does not validate, in the words of the file: unknown keys with did-you-mean, missing keys, wrong shapes, each at its line and column."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from relance.engine.language.yamlsource import Located
from relance.grammar.diagnostics import Diagnostic, did_you_mean, one_of


def form_diagnostic(located: Located, item: Any, model: type[BaseModel], what: str) -> Diagnostic:
    loc = tuple(item["loc"])
    kind = item["type"]
    if kind == "extra_forbidden":
        parent = loc[:-1]
        allowed = allowed_keys(model, parent)
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


def allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
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

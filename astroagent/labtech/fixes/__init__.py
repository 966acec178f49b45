"""The fix rules: small registered LibCST codemods, one module each (adding a rule = adding a file).

    outcome = apply_fix(source, "Archive.fetch", opportunity)   # applied | skipped | rejected
"""

from __future__ import annotations

import importlib
import pkgutil

from astroagent.labtech.fixes.base import FixOutcome, FixRule, registered_rules
from astroagent.labtech.models import Opportunity

__all__ = ["FixOutcome", "FixRule", "get_rule", "available_rules", "apply_fix"]


def _load_rules() -> None:
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


_load_rules()


def available_rules() -> list[str]:
    """Names of the registered rules, sorted."""
    return sorted(registered_rules())


def get_rule(name: str) -> FixRule:
    """A fresh instance of the rule ``name``; KeyError naming the known ones otherwise."""
    rules = registered_rules()
    if name not in rules:
        raise KeyError(f"unknown fix rule {name!r}; known: {', '.join(sorted(rules))}")
    return rules[name]()


def apply_fix(source: str, target_qualname: str, opportunity: Opportunity) -> FixOutcome:
    """Run the opportunity's fix on ``target_qualname``: applied with the new source, skipped when
    the change is already there, rejected with the reason when the rule refuses."""
    fix = opportunity.fix or ""
    try:
        rule = get_rule(fix)
    except KeyError as exc:
        return FixOutcome("rejected", fix, None, str(exc.args[0]) if exc.args else f"unknown fix {fix!r}")
    try:
        return rule.apply(source, target_qualname, opportunity)
    except Exception as exc:  # a rule bug must become a rejection, never a crash of the run
        return FixOutcome("rejected", fix, None, f"{fix} failed: {type(exc).__name__}: {exc}")

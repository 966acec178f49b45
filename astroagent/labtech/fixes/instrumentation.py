"""add_instrumentation: time a function that shows up in failures but writes no timings of its own,
so the next analysis sees its calls, durations and errors (``@instrument`` from the telemetry).

It goes above any cache (every call timed, hits included) and below retries and breakers
(each attempt logged); async functions and generators are refused because the decorator would
time only the creation of the coroutine or generator.
"""

from __future__ import annotations

from typing import ClassVar

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from astroagent.labtech.fixes.base import FixRule, Refuse, TargetedCodemod, decorator_names, is_generator
from astroagent.labtech.knowledge.decorators import INSTRUMENT, is_cache_decorator, is_instrument

__all__ = ["AddInstrumentation", "AddInstrumentationCommand"]



class AddInstrumentationCommand(TargetedCodemod):
    DESCRIPTION: ClassVar[str] = "Time a function with @instrument so failures and durations reach the logs."

    def change(self, original: cst.FunctionDef, updated: cst.FunctionDef, kind: str) -> cst.FunctionDef:
        names = decorator_names(original)
        if any(is_instrument(name) for name in names):
            raise SkipFile(f"{self.qualname} is already instrumented")
        if original.asynchronous is not None:
            raise Refuse(f"{self.qualname} is async: @instrument would time only the coroutine's creation")
        if is_generator(original):
            raise Refuse(f"{self.qualname} is a generator: @instrument would time only its creation")
        if "property" in (name.rsplit(".", 1)[-1] for name in names):
            raise Refuse(f"{self.qualname} is a property: not a method call the logs can attribute")
        AddImportsVisitor.add_needed_import(self.context, "astroagent.telemetry", "instrument")
        index = next((i for i, name in enumerate(names) if is_cache_decorator(name)), len(names))
        decorators = list(updated.decorators)
        decorators.insert(index, cst.Decorator(decorator=cst.Name(INSTRUMENT)))
        self.summary = f"@instrument on {self.qualname}: its calls, durations and errors reach the logs"
        return updated.with_changes(decorators=decorators)


class AddInstrumentation(FixRule):
    name: ClassVar[str] = "add_instrumentation"
    description: ClassVar[str] = AddInstrumentationCommand.DESCRIPTION
    command = AddInstrumentationCommand

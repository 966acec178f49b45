"""The agent registry: ``create_agent(name)`` for every registered agent."""

from __future__ import annotations

import importlib
from typing import Any

from astroagent.agents.common import AgentExecutionContext, AgentResult, BaseAgent
from astroagent.errors import UnknownAgentError

__all__ = ["create_agent", "register_agent", "registered_agents", "AgentExecutionContext", "AgentResult",
           "BaseAgent"]

_REGISTRY: dict[str, str] = {
    "experimenter": "astroagent.agents.experimenter:ExperimenterAgent",
    "lab_technician": "astroagent.agents.lab_technician:LabTechnicianAgent",
}


def register_agent(name: str, target: str) -> None:
    """Register ``module:Class`` under ``name`` (imported only when first created)."""
    _REGISTRY[name] = target


def registered_agents() -> list[str]:
    return sorted(_REGISTRY)


def create_agent(name: str, **kwargs: Any) -> BaseAgent:
    target = _REGISTRY.get(name)
    if target is None:
        raise UnknownAgentError(f"unknown agent {name!r}; known agents: {', '.join(registered_agents())}")
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**kwargs)

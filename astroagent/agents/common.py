"""What every agent shares: the execution context it is given, the result it returns, its base."""

from __future__ import annotations

import time
import uuid
from abc import ABC, abstractmethod
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from astroagent.config import AstroAgentConfig, load_config
from astroagent.paths import data_dir as default_data_dir
from astroagent.paths import find_workspace
from astroagent.telemetry.writer import utcnow

__all__ = ["AgentExecutionContext", "AgentResult", "BaseAgent"]


class AgentExecutionContext(BaseModel):
    """What one run of an agent is asked to do."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    agent_name: str
    state_name: str = "default"
    input_data: dict[str, Any] = Field(default_factory=dict)
    execution_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    timestamp: datetime = Field(default_factory=utcnow)


class AgentResult(BaseModel):
    """The outcome of one run; frozen and picklable so it crosses process boundaries."""

    model_config = ConfigDict(frozen=True)

    agent_name: str
    execution_id: str
    success: bool
    output_data: dict[str, Any] = Field(default_factory=dict)
    error_message: str | None = None
    execution_time: float = 0.0


class BaseAgent(ABC):
    """An agent runs ``execute``; ``run`` times it and turns any exception into a failed result
    that carries the real cause."""

    name: ClassVar[str]

    def __init__(self, config: AstroAgentConfig | None = None, *, data_dir: Path | None = None,
                 workspace: Path | None = None):
        self.workspace = Path(workspace).resolve() if workspace is not None else find_workspace()
        self.config = config if config is not None else load_config(self.workspace)
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else default_data_dir(self.workspace)

    @abstractmethod
    def execute(self, context: AgentExecutionContext) -> dict[str, Any]:
        """Do the work; return the output data. Raise to fail."""

    def run(self, context: AgentExecutionContext) -> AgentResult:
        start = time.perf_counter()
        try:
            output = self.execute(context)
        except Exception as exc:  # the edge where errors become data; the cause is kept verbatim
            return AgentResult(agent_name=self.name, execution_id=context.execution_id, success=False,
                               error_message=f"{type(exc).__name__}: {exc}",
                               execution_time=time.perf_counter() - start)
        success = bool(output.pop("success", True)) if isinstance(output, dict) else True
        error = output.pop("error_message", None) if isinstance(output, dict) else None
        return AgentResult(agent_name=self.name, execution_id=context.execution_id, success=success,
                           output_data=output or {}, error_message=error,
                           execution_time=time.perf_counter() - start)

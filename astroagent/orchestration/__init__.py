"""Orchestration: the ContinuousPipeline, the supervised Experimenter worker, adaptive scheduling."""

from astroagent.orchestration.continuous_pipeline import ContinuousPipeline
from astroagent.orchestration.scheduling import LabSchedule, adapt_interval
from astroagent.orchestration.state import PipelineState, load_state
from astroagent.orchestration.supervisor import ExperimentOutcome, WorkerSupervisor

__all__ = ["ContinuousPipeline", "WorkerSupervisor", "ExperimentOutcome", "PipelineState", "load_state",
           "LabSchedule", "adapt_interval"]

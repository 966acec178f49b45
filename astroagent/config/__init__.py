"""Configuration: typed models, the packaged ``agents.yaml`` and the loader."""

from astroagent.config.loader import load_config, packaged_config_path
from astroagent.config.models import (
    ArchiveConfig,
    AstroAgentConfig,
    ExperimenterConfig,
    LabTechnicianConfig,
    LLMConfig,
    PipelineConfig,
    SafetyConstraints,
    VerdictConfig,
)

__all__ = [
    "load_config",
    "packaged_config_path",
    "AstroAgentConfig",
    "LabTechnicianConfig",
    "ExperimenterConfig",
    "PipelineConfig",
    "ArchiveConfig",
    "LLMConfig",
    "SafetyConstraints",
    "VerdictConfig",
]

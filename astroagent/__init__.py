"""astroagent: a self-improving research pipeline for astrophysics.

An Experimenter runs real analyses on real data; a Lab Technician reads its logs, finds
recurring failures and slow methods, and changes its code safely; a ContinuousPipeline
runs both for hours.
"""

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "AstroAgentError",
    "ConfigError",
    "UsageError",
    "UnknownAgentError",
    "LogFormatError",
    "DataError",
    "ArchiveError",
    "PatchRejected",
    "ValidationFailed",
    "RollbackFailed",
    "LLMError",
]


def __getattr__(name: str) -> object:
    """The error types, imported on first use: ``astroagent watch`` imports this package at every
    watched interpreter's start, where nothing needs them."""
    if name in __all__ and name != "__version__":
        from astroagent import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'astroagent' has no attribute {name!r}")

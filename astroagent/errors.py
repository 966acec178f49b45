"""The one exception root of astroagent and its small tree.

    AstroAgentError
    ├── ConfigError            bad configuration (file, key, what was expected)   exit 2
    ├── UsageError             bad command-line input or arguments                exit 2
    ├── UnknownAgentError      create_agent() with a name nobody registered       exit 2
    ├── LogFormatError         a log or metrics file that cannot be read at all   exit 2
    ├── DataError              a dataset that is missing, corrupt or truncated    exit 1
    │   └── ArchiveError       the data archive answered badly                    exit 1
    ├── PatchRejected          a proposed code change broke a safety rule         exit 1
    ├── ValidationFailed       a change failed compile / import / tests           exit 1
    ├── RollbackFailed         a change could not be undone safely                exit 1
    └── LLMError               the LLM endpoint failed or answered garbage        exit 1

The CLI turns each into one line on stderr and the exit code shown.
"""

from __future__ import annotations

__all__ = [
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


class AstroAgentError(Exception):
    """Root of every error astroagent raises on purpose."""

    exit_code = 1


class ConfigError(AstroAgentError):
    exit_code = 2


class UsageError(AstroAgentError):
    exit_code = 2


class UnknownAgentError(AstroAgentError, KeyError):
    exit_code = 2

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class LogFormatError(AstroAgentError):
    exit_code = 2


class DataError(AstroAgentError):
    pass


class ArchiveError(DataError):
    pass


class PatchRejected(AstroAgentError):
    pass


class ValidationFailed(AstroAgentError):
    pass


class RollbackFailed(AstroAgentError):
    pass


class LLMError(AstroAgentError):
    pass

"""The typed change record: what the ledger keeps about one change, as one model.

The ledger stays JSON lines (``change`` then ``update`` lines); a folded record is validated into
``Change`` when read, so every reader sees the same fields with the same types. Records written by
earlier releases are migrated on read (``file``/``qualname`` from ``target``, a single
``code_version_after`` into ``code_versions_after``); unknown keys are kept, never dropped.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Change", "STATUSES", "VERDICTS", "BEFORE_AFTER", "CONCURRENT", "DESIGNS", "evidence_line"]

STATUSES = ("applied", "rejected", "rolled_back", "proposed", "awaiting_approval")
VERDICTS = ("pending", "kept", "rolled_back")
BEFORE_AFTER, CONCURRENT = "before_after", "concurrent"   # how a change is judged (verdicts / canary)
DESIGNS = (BEFORE_AFTER, CONCURRENT)

Status = Literal["applied", "rejected", "rolled_back", "proposed", "awaiting_approval"]


class Change(BaseModel):
    """One change the Lab Technician made or proposed, with its evidence and verdict."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    created_at: str | None = None
    updated_at: str | None = None
    applied_at: str | None = None           # when the file was written: a canary's period starts here
    design: str = BEFORE_AFTER              # how its verdict is reached (DESIGNS)
    agent: str = "experimenter"
    type: str | None = None                 # the opportunity's type (frequent_error, slow_method …)
    priority: str | None = None
    description: str | None = None
    signature: str | None = None            # the failure signature the fix answers
    target: str | None = None               # path::qualname
    file: str | None = None                 # relative to the workspace
    qualname: str | None = None
    package: str | None = None
    method: str | None = None
    error_types: list[str] = Field(default_factory=list)
    engine: str | None = None               # rules | llm
    fix: str | None = None
    status: Status | None = None
    reason: str | None = None
    warnings: list[str] = Field(default_factory=list)
    diff: str = ""
    verdict: str | None = None              # pending | kept | rolled_back (None: never applied)
    verdict_reason: str | None = None
    verdict_evidence: dict[str, Any] | None = None
    code_version_before: str | None = None
    code_version_after: str | None = None
    code_versions_after: list[str] = Field(default_factory=list)
    sha_before: str | None = None
    sha_after: str | None = None
    backup: str | None = None
    evidence: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    rejected_by: str | None = None          # who said no on review (cli | dashboard): that bars it too
    forgotten: bool = False                 # a rolled-back fix whose bar ``labtech forget`` lifted

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        target = data.get("target")
        if isinstance(target, str) and "::" in target:
            file, _, qualname = target.partition("::")
            data.setdefault("file", file)
            data.setdefault("qualname", qualname)
        after = data.get("code_version_after")
        if after and not data.get("code_versions_after"):
            data["code_versions_after"] = [after]
        for key in ("error_types", "warnings", "code_versions_after"):
            if data.get(key) is None:
                data.pop(key, None)
        return data

    def as_dict(self) -> dict[str, Any]:
        """The record as the JSON the ledger file, ``history --json`` and the reports show."""
        return self.model_dump(mode="json")


def evidence_line(evidence: dict[str, Any] | None) -> str:
    """A verdict's evidence in one line, for ``labtech history`` and the report: both sides, their
    period and the test, whichever design judged it."""
    if not evidence:
        return ""
    if evidence.get("design") == CONCURRENT and "canary" in evidence:
        c, b, period = evidence["canary"], evidence.get("baseline") or {}, evidence.get("period") or {}
        when = f", {str(period.get('first'))[:19]} to {str(period.get('last'))[11:19]}" if period.get("first") else ""
        return (f"concurrent: canary {c.get('executions', 0) - c.get('failed', 0)}/{c.get('executions', 0)} ok, "
                f"baseline {b.get('executions', 0) - b.get('failed', 0)}/{b.get('executions', 0)} ok{when}")
    after, before = evidence.get("after") or {}, evidence.get("before") or {}
    if not after:
        return ""
    text = f"before/after: new {after.get('executions', 0) - after.get('failed', 0)}/{after.get('executions', 0)} ok"
    if before:
        text += f", old {before.get('executions', 0) - before.get('failed', 0)}/{before.get('executions', 0)} ok"
    return text

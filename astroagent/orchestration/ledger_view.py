"""What the pipeline reads from the Lab Technician's ledger: how each change was validated,
when it landed, and which changes still wait for their verdict."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["with_ledger_facts", "pending_change_ids"]


def _ledger(data_dir: Path) -> dict[str, dict[str, Any]] | None:
    try:
        from astroagent.labtech import Ledger

        return {str(c.get("id")): c for c in Ledger(data_dir).history()}
    except (ImportError, OSError):
        return None


def with_ledger_facts(data_dir: Path, improvements: list[Any], *, now_t: float,
                      now_wall: datetime) -> list[dict[str, Any]]:
    """Each change with its ``validation`` and ``t``: the moment it landed on the pipeline's time
    line (``now_t`` is the pipeline time at ``now_wall``)."""
    items = [i for i in improvements if isinstance(i, dict)]
    changes = _ledger(data_dir)
    if not changes:
        return items
    out = []
    for item in items:
        known = changes.get(str(item.get("id")))
        if not known:
            out.append(item)
            continue
        extra: dict[str, Any] = {} if "validation" in item else {"validation": known.get("validation")}
        try:
            landed = datetime.fromisoformat(str(known["applied_at"]).replace("Z", "+00:00"))
            extra["t"] = max(0.0, now_t - max(0.0, (now_wall - landed).total_seconds()))
        except (KeyError, ValueError, TypeError):
            pass
        out.append({**item, **extra})
    return out


def pending_change_ids(data_dir: Path, fallback: list[str]) -> list[str]:
    """Applied changes still waiting for a verdict (the ledger has the last word)."""
    changes = _ledger(data_dir)
    if changes is None:
        return fallback
    return [cid for cid, c in changes.items() if c.get("status") == "applied" and c.get("verdict") == "pending"]

"""Approval mode: a validated change waits in the ledger, applies only on approval, and a stale one is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from _labtech_ws import FETCH, TEST_FETCH, make_workspace

from astroagent.cli import main
from astroagent.config import AstroAgentConfig
from astroagent.errors import PatchRejected, UsageError
from astroagent.labtech.changes.approval import approve_change, awaiting_changes, proposal_path, reject_change
from astroagent.labtech.changes.improve import run_improvements
from astroagent.labtech.changes.ledger import Ledger
from astroagent.labtech.models import Analysis, ErrorPattern, Opportunity

MANUAL = AstroAgentConfig.model_validate({"lab_technician": {"approval": "manual"}})


def _analysis(signature: str = "sig-reset") -> Analysis:
    opp = Opportunity(type="frequent_error", priority="high", score=10.0,
                      target="experimenter/fetch.py::fetch_dataset", fix="add_retry_mechanism", signature=signature,
                      method="fetch_dataset", error_types=("ConnectionResetError",),
                      description="ConnectionResetError in fetch_dataset: 25 of 60 executions")
    pattern = ErrorPattern(signature=signature, error_type="ConnectionResetError", template="reset", count=25,
                           transient=True)
    return Analysis(generated_at=datetime.now(UTC), window_hours=24, log_dir="logs", opportunities=(opp,),
                    error_patterns=(pattern,), needs_intervention=True)


def _waiting(tmp_path: Path) -> tuple[Path, dict]:
    ws = make_workspace(tmp_path / "ws", {"experimenter/fetch.py": FETCH, "tests/test_fetch.py": TEST_FETCH},
                        config="lab_technician:\n  approval: manual\n")
    outcome = run_improvements(_analysis(), config=MANUAL, workspace=ws, data_dir=ws / "data")
    [change] = outcome.improvements
    return ws, change


def test_manual_mode_records_the_change_and_applies_nothing(tmp_path: Path) -> None:
    ws, change = _waiting(tmp_path)
    assert change["status"] == "awaiting_approval" and "+" in change["diff"] and "tenacity" in change["diff"]
    assert (ws / "experimenter/fetch.py").read_text() == FETCH
    assert [c["id"] for c in awaiting_changes(ws / "data")] == [change["id"]]
    again = run_improvements(_analysis(), config=MANUAL, workspace=ws, data_dir=ws / "data")
    assert again.improvements == ()              # the waiting change is not proposed a second time


def test_approve_applies_it_through_the_journal_with_a_backup(tmp_path: Path) -> None:
    ws, change = _waiting(tmp_path)
    stored = approve_change(change["id"], data_dir=ws / "data", workspace=ws, config=MANUAL)
    assert stored["status"] == "applied" and stored["verdict"] == "pending" and stored["approved_by"] == "cli"
    assert "tenacity" in (ws / "experimenter/fetch.py").read_text()
    assert Path(stored["backup"]).read_text() == FETCH
    assert not proposal_path(ws / "data", change["id"]).exists()
    assert Ledger(ws / "data").pending()[0]["id"] == change["id"]


def test_a_stale_change_is_refused_and_the_edit_kept(tmp_path: Path) -> None:
    ws, change = _waiting(tmp_path)
    edited = FETCH.replace("The raw bytes at url.", "The raw bytes at url (edited by hand).")
    (ws / "experimenter/fetch.py").write_text(edited)
    with pytest.raises(PatchRejected, match="stale"):
        approve_change(change["id"], data_dir=ws / "data", workspace=ws, config=MANUAL)
    assert (ws / "experimenter/fetch.py").read_text() == edited
    recorded = Ledger(ws / "data").get(change["id"])
    assert recorded["status"] == "rejected" and "stale" in recorded["reason"]
    # a stale change does not bar the fix: the next run computes it again on the edited file
    again = run_improvements(_analysis(), config=MANUAL, workspace=ws, data_dir=ws / "data")
    assert [i["status"] for i in again.improvements] == ["awaiting_approval"]


def test_an_approval_that_no_longer_validates_is_refused(tmp_path: Path) -> None:
    ws, change = _waiting(tmp_path)
    (ws / "tests/test_fetch.py").write_text("def test_broken():\n    assert False\n")
    with pytest.raises(Exception, match="validation failed"):
        approve_change(change["id"], data_dir=ws / "data", workspace=ws, config=MANUAL)
    assert (ws / "experimenter/fetch.py").read_text() == FETCH


def test_reject_records_why_and_touches_nothing(tmp_path: Path) -> None:
    ws, change = _waiting(tmp_path)
    stored = reject_change(change["id"], data_dir=ws / "data", why="not during the observing run")
    assert stored["status"] == "rejected" and stored["reason"] == "rejected on review: not during the observing run"
    assert (ws / "experimenter/fetch.py").read_text() == FETCH
    with pytest.raises(UsageError, match="not awaiting approval"):
        approve_change(change["id"], data_dir=ws / "data", workspace=ws, config=MANUAL)


def test_cli_approve_and_reject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    ws, change = _waiting(tmp_path)
    monkeypatch.chdir(ws)
    assert main(["labtech", "approve", "chg-nope"]) == 2
    assert "no change 'chg-nope'" in capsys.readouterr().err
    assert main(["labtech", "approve", change["id"]]) == 0
    assert f"approved and applied {change['id']}" in capsys.readouterr().out
    assert main(["labtech", "reject", change["id"], "--why", "too late"]) == 2
    assert "is applied, not awaiting approval" in capsys.readouterr().err


def test_a_persons_rejection_bars_the_fix_until_forgotten(tmp_path: Path) -> None:
    """A person's no is not a refusal of the guard: the same fix is not proposed again to them
    every run, until ``labtech forget`` lifts it."""
    ws, change = _waiting(tmp_path)
    reject_change(change["id"], data_dir=ws / "data", why="not this week")
    again = run_improvements(_analysis(), config=MANUAL, workspace=ws, data_dir=ws / "data")
    assert again.improvements == ()
    ledger = Ledger(ws / "data")
    [lifted] = ledger.barring(change_id=change["id"])
    assert lifted.id == change["id"]
    ledger.update(change["id"], forgotten=True)
    after = run_improvements(_analysis(), config=MANUAL, workspace=ws, data_dir=ws / "data")
    assert [i["status"] for i in after.improvements] == ["awaiting_approval"]

"""Rollback restores the file from its backup, records it, and refuses to overwrite edits it did not make."""

from __future__ import annotations

from pathlib import Path

import pytest
from _labtech_ws import COMPUTE, make_workspace

from astroagent.errors import RollbackFailed
from astroagent.labtech.changes.apply import apply_recorded_change, sha256_file
from astroagent.labtech.changes.ledger import Ledger
from astroagent.labtech.changes.rollback import rollback_change, rollback_last
from astroagent.telemetry import package_code_version

FILE = "experimenter/compute.py"


def _apply(ws: Path, cid: str, new: str) -> dict:
    return apply_recorded_change({"id": cid, "file": FILE, "package": "experimenter", "signature": "s",
                                  "fix": "add_caching", "engine": "rules", "sha_before": sha256_file(ws / FILE)},
                                 new, workspace=ws, data_dir=ws / "data")


def test_apply_records_versions_and_rollback_restores(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    v0 = package_code_version(ws / "experimenter")
    new = COMPUTE.replace("x * x", "x ** 2")
    change = _apply(ws, "chg-aaaa0001", new)
    assert (ws / FILE).read_text() == new
    assert change["code_version_after"] == package_code_version(ws / "experimenter") != v0
    assert Path(change["backup"]).read_text() == COMPUTE
    done = rollback_change("chg-aaaa0001", data_dir=ws / "data", workspace=ws)
    assert (ws / FILE).read_text() == COMPUTE
    assert done["status"] == "rolled_back" and done["verdict"] == "rolled_back"
    assert package_code_version(ws / "experimenter") == v0
    with pytest.raises(RollbackFailed, match="not applied"):
        rollback_change("chg-aaaa0001", data_dir=ws / "data", workspace=ws)


def test_refuses_to_overwrite_someone_elses_edit_unless_forced(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    _apply(ws, "chg-aaaa0002", COMPUTE.replace("x * x", "x ** 2"))
    edited = (ws / FILE).read_text() + "\n# a human was here\n"
    (ws / FILE).write_text(edited)
    with pytest.raises(RollbackFailed, match="edited by someone else"):
        rollback_last(data_dir=ws / "data", workspace=ws)
    assert (ws / FILE).read_text() == edited
    rollback_change("chg-aaaa0002", data_dir=ws / "data", workspace=ws, force=True)
    assert (ws / FILE).read_text() == COMPUTE


def test_stacked_changes_roll_back_newest_first(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    first = COMPUTE.replace("x * x", "x ** 2")
    _apply(ws, "chg-aaaa0003", first)
    _apply(ws, "chg-aaaa0004", first.replace("sum(values)", "float(sum(values))"))
    with pytest.raises(RollbackFailed, match="chg-aaaa0004 changed it later"):
        rollback_change("chg-aaaa0003", data_dir=ws / "data", workspace=ws)
    assert rollback_last(data_dir=ws / "data", workspace=ws)["id"] == "chg-aaaa0004"
    assert (ws / FILE).read_text() == first
    # the remaining change now lives in the code version after the rollback too
    versions = Ledger(ws / "data").get("chg-aaaa0003")["code_versions_after"]
    assert package_code_version(ws / "experimenter") in versions and len(versions) == 2
    rollback_last(data_dir=ws / "data", workspace=ws)
    assert (ws / FILE).read_text() == COMPUTE
    with pytest.raises(RollbackFailed, match="no applied change"):
        rollback_last(data_dir=ws / "data", workspace=ws)


def test_unknown_id_and_missing_backup(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    with pytest.raises(RollbackFailed, match="no change 'chg-nope'"):
        rollback_change("chg-nope", data_dir=ws / "data", workspace=ws)
    change = _apply(ws, "chg-aaaa0005", COMPUTE.replace("x * x", "x ** 2"))
    Path(change["backup"]).unlink()
    with pytest.raises(RollbackFailed, match="backup"):
        rollback_change("chg-aaaa0005", data_dir=ws / "data", workspace=ws)

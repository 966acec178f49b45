"""The ledger records every change and its later state, survives torn lines, and answers the
questions the safety rules ask (tried before? last applied? pending?)."""

from __future__ import annotations

from pathlib import Path

from astroagent.labtech.changes.ledger import Ledger, new_change_id


def _change(cid: str, **fields) -> dict:
    base = {"id": cid, "signature": "sig-1", "fix": "add_retry_mechanism", "engine": "rules",
            "status": "applied", "verdict": "pending", "file": "experimenter/fetch.py"}
    return {**base, **fields}


def test_ids_are_short_and_unique() -> None:
    ids = {new_change_id() for _ in range(200)}
    assert len(ids) == 200 and all(i.startswith("chg-") and len(i) == 12 for i in ids)


def test_record_update_and_history(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.record_change(_change("chg-1"))
    ledger.record_change(_change("chg-2", signature="sig-2", status="rejected"))
    ledger.update("chg-1", verdict="kept", verdict_evidence={"p": 0.01})
    again = Ledger(tmp_path)
    assert [c["id"] for c in again.history()] == ["chg-1", "chg-2"]
    assert again.get("chg-1")["verdict"] == "kept" and again.get("chg-1")["verdict_evidence"] == {"p": 0.01}
    assert ledger.path == tmp_path / "logs" / "lab_technician" / "ledger.jsonl"


def test_already_tried_covers_applied_and_rolled_back_never_rejections(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    assert not ledger.already_tried("sig-1", "add_retry_mechanism")
    ledger.record_change(_change("chg-1"))
    ledger.update("chg-1", status="rolled_back", verdict="rolled_back")
    assert ledger.already_tried("sig-1", "add_retry_mechanism")      # a rolled-back fix never comes back
    assert not ledger.already_tried("sig-1", "add_timeout")
    ledger.record_change(_change("chg-2", signature="sig-2", fix="add_caching", status="proposed"))
    assert not ledger.already_tried("sig-2", "add_caching")          # a dry run is not an attempt
    ledger.record_change(_change("chg-3", signature="sig-3", fix="llm_rewrite", engine="llm", status="rejected"))
    assert not ledger.already_tried("sig-3", "llm_rewrite")          # an LLM may answer better next time
    ledger.record_change(_change("chg-4", signature="sig-4", status="rejected"))
    assert not ledger.already_tried("sig-4", "add_retry_mechanism")  # a refusal bars nothing (issue 14)


def test_last_applied_and_pending(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    assert ledger.last_applied() is None
    ledger.record_change(_change("chg-1"))
    ledger.record_change(_change("chg-2"))
    ledger.update("chg-2", status="rolled_back", verdict="rolled_back")
    assert ledger.last_applied()["id"] == "chg-1"
    assert [c["id"] for c in ledger.pending()] == ["chg-1"]


def test_torn_and_junk_lines_are_skipped_and_appends_stay_whole(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.record_change(_change("chg-1"))
    with ledger.path.open("ab") as fh:
        fh.write(b'{"event": "update", "id": "chg-1", "verd')       # a kill mid-line
    ledger.update("chg-1", verdict="kept")
    with ledger.path.open("ab") as fh:
        fh.write(b"\x00\xff binary junk\n[1, 2]\n")
    ledger.record_change(_change("chg-2"))
    assert Ledger(tmp_path).get("chg-1")["verdict"] == "kept"
    assert [c["id"] for c in Ledger(tmp_path).history()] == ["chg-1", "chg-2"]


def test_replayed_event_counts_once(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.record_change(_change("chg-1"), event_id="e-1")
    ledger.append_event({"event": "update", "event_id": "e-2", "id": "chg-1", "verdict": "kept"})
    ledger.append_event({"event": "update", "event_id": "e-3", "id": "chg-1", "verdict": "rolled_back"})
    ledger.append_event({"event": "update", "event_id": "e-2", "id": "chg-1", "verdict": "kept"})
    assert ledger.has_event("e-2") and ledger.get("chg-1")["verdict"] == "rolled_back"


def test_a_record_of_an_earlier_release_is_migrated_on_read_and_keeps_unknown_keys(tmp_path):
    """Old lines (no file/qualname, a single code_version_after, null lists) read as typed changes."""
    import orjson

    from astroagent.labtech.changes.ledger import Ledger
    ledger = Ledger(tmp_path)
    ledger.path.parent.mkdir(parents=True)
    old = {"event": "change", "event_id": "e1", "id": "chg-old", "target": "experimenter/fetch.py::fetch_dataset",
           "fix": "add_retry_mechanism", "status": "applied", "verdict": "pending", "error_types": None,
           "code_version_after": "abc123abc123", "from_the_future": {"x": 1}}
    ledger.path.write_bytes(orjson.dumps(old) + b"\n")
    (change,) = ledger.changes()
    assert (change.file, change.qualname) == ("experimenter/fetch.py", "fetch_dataset")
    assert change.code_versions_after == ["abc123abc123"] and change.error_types == []
    assert ledger.get("chg-old")["from_the_future"] == {"x": 1}
    assert [c["id"] for c in ledger.pending()] == ["chg-old"]


def test_a_record_that_no_longer_validates_is_skipped_not_fatal(tmp_path):
    import orjson

    from astroagent.labtech.changes.ledger import Ledger
    ledger = Ledger(tmp_path)
    ledger.path.parent.mkdir(parents=True)
    lines = [{"event": "change", "event_id": "e1", "id": "chg-bad", "status": "exploded"},
             {"event": "change", "event_id": "e2", "id": "chg-good", "status": "rejected"}]
    ledger.path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    assert [c.id for c in ledger.changes()] == ["chg-good"]


def test_a_bar_names_its_change_and_forget_lifts_it(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.record_change(_change("chg-1", target="experimenter/fetch.py::fetch", status="awaiting_approval"))
    assert ledger.bar("sig-1", "add_retry_mechanism").id == "chg-1"   # awaiting approval: not proposed twice
    ledger.update("chg-1", status="applied")
    ledger.update("chg-1", status="rolled_back", verdict="rolled_back", verdict_reason="success 90% -> 70%")
    barred = ledger.bar("sig-1", "add_retry_mechanism")
    from astroagent.labtech.changes.ledger import bar_note
    note = bar_note(barred, "add_retry_mechanism", "experimenter/fetch.py::fetch", "fetch")
    assert "add_retry_mechanism on experimenter/fetch.py::fetch (method fetch)" in note
    assert "chg-1: success 90% -> 70%" in note and "labtech forget chg-1" in note and "sig-1" not in note
    [same] = ledger.barring(fix="add_retry_mechanism", target="experimenter/fetch.py")
    assert same.id == "chg-1" and ledger.forget([same]) == [same]
    assert not ledger.already_tried("sig-1", "add_retry_mechanism")
    assert ledger.get("chg-1")["forgotten"] is True and ledger.get("chg-1")["status"] == "rolled_back"
    assert ledger.forget(ledger.barring(change_id="chg-1")) == []     # forgetting twice writes nothing


def test_barring_says_why_nothing_can_be_forgotten(tmp_path: Path) -> None:
    import pytest

    from astroagent.errors import UsageError
    ledger = Ledger(tmp_path)
    ledger.record_change(_change("chg-1"))
    with pytest.raises(UsageError, match="chg-1 is applied, not rolled back"):
        ledger.barring(change_id="chg-1")
    with pytest.raises(UsageError, match="no change 'chg-9'"):
        ledger.barring(change_id="chg-9")
    with pytest.raises(UsageError, match="no rolled-back add_caching on x.py"):
        ledger.barring(fix="add_caching", target="x.py")

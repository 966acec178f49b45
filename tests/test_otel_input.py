"""Issue 14 part 4: OpenTelemetry spans read as the log contract.

The spans come from the real ``opentelemetry-sdk`` running a small traced program in the test, in
the forms a user's folder holds: the SDK's ``ConsoleSpanExporter`` output, the OTLP JSON file
exporter's lines (hex ids), and the protobuf encoder's messages through ``MessageToJson``
(base64 ids, enum names; one a line and pretty-printed).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import orjson
import pytest
from google.protobuf.json_format import MessageToJson
from opentelemetry import trace
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor, SpanExporter, SpanExportResult

from astroagent.config.models import LabTechnicianConfig
from astroagent.labtech import run_analysis
from astroagent.labtech.analysis.otel_source import detect_format, translate

NET = '''\
"""A survey that fetches spectra, traced with OpenTelemetry (the tracer is given by the caller)."""

TRACER = None


def connect(i):
    with TRACER.start_as_current_span("connect"):
        if i % 3 == 0:
            raise ConnectionError(f"connection reset by the archive (request {i})")
        return i


def fetch(i):
    with TRACER.start_as_current_span("fetch"):
        return connect(i)


def calibrate(i):
    with TRACER.start_as_current_span("calibrate", attributes={"code.namespace": "spectra.net",
                                                               "code.function": "calibrate"}):
        raise ValueError(f"no standard star for field {i}")


def survey(i):
    with TRACER.start_as_current_span("survey"):
        with TRACER.start_as_current_span("load"):
            pass
        fetch(i)
        if i == 5:
            try:
                calibrate(i)
            except ValueError:
                pass
'''

PROJECT_TEST = '''\
from opentelemetry.trace import NoOpTracer

from spectra import net


def test_connect_returns_the_request():
    net.TRACER = NoOpTracer()
    assert net.fetch(1) == 1
'''

RUNS = 10        # executions 0, 3, 6 and 9 fail in connect (through fetch and survey); 5 catches a ValueError
RAISE_LINE = NET.splitlines().index('            raise ConnectionError(f"connection reset by the archive (request {i})")') + 1


class _ProtobufJson(SpanExporter):
    """The OTLP protobuf encoder's message as JSON (protobuf's own JSON mapping), one message a record."""

    def __init__(self, path: Path, indent: int | None) -> None:
        self._out = open(path, "a", encoding="utf-8")
        self._indent = indent

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._out.write(MessageToJson(encode_spans(spans), indent=self._indent) + "\n")
        self._out.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._out.close()


EXPORTERS: dict[str, Callable[[Path], SpanExporter]] = {
    "console": lambda path: ConsoleSpanExporter(out=open(path, "a", encoding="utf-8")),
    "otlp_json_file": lambda path: FileSpanExporter(path),
    "protobuf_json_lines": lambda path: _ProtobufJson(path, None),
    "protobuf_json_pretty": lambda path: _ProtobufJson(path, 2),
}


def _project(root: Path) -> Path:
    for rel, text in {"pyproject.toml": '[project]\nname = "spectra"\nversion = "0.1"\n', "spectra/__init__.py": "",
                      "spectra/net.py": NET, "tests/test_net.py": PROJECT_TEST}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _module(project: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"spectra_net_{abs(hash(project))}", project / "spectra" / "net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Traced:
    """The survey module traced by a real SDK provider whose exporter writes ``path`` as each span ends."""

    def __init__(self, project: Path, path: Path, form: str, version: str = "v1") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.provider = TracerProvider(resource=Resource.create({"service.name": "spectra",
                                                                 "service.version": version}))
        self.provider.add_span_processor(SimpleSpanProcessor(EXPORTERS[form](path)))
        self.net = _module(project)
        self.net.TRACER = self.tracer = self.provider.get_tracer("spectra")

    def run(self, runs: Sequence[int]) -> None:
        for i in runs:
            try:
                self.net.survey(i)
            except ConnectionError:
                pass

    def close(self) -> None:
        self.provider.shutdown()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return _project(tmp_path / "proj")


def _spans(project: Path, folder: Path, form: str = "otlp_json_file", runs: Sequence[int] = range(RUNS),
           name: str = "spans.jsonl") -> Path:
    traced = _Traced(project, folder / name, form)
    traced.run(runs)
    traced.close()
    return folder


def _analyse(folder: Path, state: Path, project: Path | None = None, *, log_format: str = "otel",
             now: datetime | None = None, **config: object):
    targets = [project / "spectra" / "net.py"] if project is not None else []
    return run_analysis(LabTechnicianConfig(**config), folder, state, workspace=project, targets=targets,
                        log_format=log_format, now=now)


@pytest.mark.parametrize("form", sorted(EXPORTERS))
def test_spans_of_a_real_program_are_analysed_as_what_happened(form: str, project: Path, tmp_path: Path) -> None:
    folder = _spans(project, tmp_path / "spans", form)
    analysis = _analyse(folder, tmp_path / "lab", project)
    ex = analysis.executions
    assert (ex.total, ex.failed, ex.success_rate) == (RUNS, 4, 0.6)   # each execution once, however many spans failed
    assert analysis.malformed_lines == 0
    patterns = {(p.method, p.error_type): p for p in analysis.error_patterns}
    connect = patterns[("connect", "ConnectionError")]
    assert connect.count == 4 and connect.transient
    assert (connect.location.file, connect.location.function, connect.location.line) == \
        ("spectra/net.py", "connect", RAISE_LINE)
    assert patterns[("fetch", "ConnectionError")].count == 4       # recorded on each enclosing span, as @instrument does
    assert patterns[("spectra.net.calibrate", "ValueError")].count == 1   # the method from code.namespace/function
    assert set(patterns) == {("connect", "ConnectionError"), ("fetch", "ConnectionError"),
                             ("spectra.net.calibrate", "ValueError")}    # the roots' exceptions add none
    assert set(analysis.per_version) == {"v1"}
    assert analysis.methods["load"].calls == RUNS and analysis.methods["connect"].calls == RUNS


def test_both_ingest_engines_count_the_translation_alike(project: Path, tmp_path: Path) -> None:
    folder = _spans(project, tmp_path / "spans", "console")
    (folder / "junk.log").write_bytes(b"not a span\n\x00\xff\n")
    python = _analyse(folder, tmp_path / "lab-py", project, ingest_engine="python")
    duck = _analyse(folder, tmp_path / "lab-duck", project, ingest_engine="duckdb")
    assert set(python.trend["ingest"]["engines"]) == {"python"} and set(duck.trend["ingest"]["engines"]) == {"duckdb"}
    for a in (python, duck):
        assert (a.executions.total, a.executions.failed, a.malformed_lines) == (RUNS, 4, 2)
    assert [(p.method, p.error_type, p.count) for p in python.error_patterns] == \
        [(p.method, p.error_type, p.count) for p in duck.error_patterns]


def test_the_format_is_detected_and_named_in_a_note(project: Path, tmp_path: Path) -> None:
    folder = _spans(project, tmp_path / "spans", "console", name="stdout.txt")
    assert detect_format(folder) == "otel"
    analysis = _analyse(folder, tmp_path / "lab", log_format="auto")
    assert analysis.executions.total == RUNS
    assert f"no execution_*.jsonl in {folder}: read as OpenTelemetry spans (OTLP JSON)" in analysis.notes
    (folder / "execution_20260101.jsonl").write_text("")      # contract logs win: the folder is the contract's
    assert detect_format(folder) == "contract"
    assert _analyse(folder, tmp_path / "lab2", log_format="auto").executions.total == 0
    otel = _analyse(folder, tmp_path / "lab3", log_format="otel")
    assert otel.executions.total == RUNS and any("were not read" in n for n in otel.notes)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert detect_format(empty) == "contract"


def test_truncated_and_foreign_records_are_counted_malformed_and_nothing_is_lost(project: Path,
                                                                                 tmp_path: Path) -> None:
    folder = _spans(project, tmp_path / "spans", "otlp_json_file", runs=range(6))
    lines = (folder / "spans.jsonl").read_bytes().splitlines(keepends=True)
    cut = lines[0][: len(lines[0]) // 2] + b"\n"               # a record cut short, followed by whole ones
    (folder / "spans.jsonl").write_bytes(cut + b"".join(lines[1:]) + b'{"hello": "world"}\n[1, 2]\n')
    console = tmp_path / "console"
    _spans(project, console, "console", runs=[1, 2], name="console.log")
    text = (console / "console.log").read_text()
    first_end = text.index("\n}\n") + 3
    (folder / "console.log").write_text(text[: first_end // 2] + "\n" + text[first_end:])   # a console span cut short
    (folder / "notes.txt").write_bytes(b"these are my notes\n\x89PNG\r\n\x1a\n")
    analysis = _analyse(folder, tmp_path / "lab", project)
    # the cut first span (a "load" call), {"hello"}, [1, 2], the cut console span, 3 lines of notes
    assert analysis.malformed_lines == 7
    assert analysis.executions.total == 6 + 2 and analysis.executions.failed == 2
    assert analysis.methods["load"].calls == 6 + 2 - 2     # only the two cut spans are missing
    assert any("notes.txt: 3 record(s) that are not OTLP spans" in n for n in analysis.notes)
    # a record still being written (no newline yet, or a console span not closed) waits, and is read once whole
    partial = _spans(project, tmp_path / "more", "otlp_json_file", runs=[4]) / "spans.jsonl"
    whole = partial.read_bytes()
    with open(folder / "spans.jsonl", "ab") as fh:
        fh.write(whole[:-40])
    later = (_spans(project, tmp_path / "later", "console", runs=[7], name="c.log") / "c.log").read_text()
    with open(folder / "console.log", "a") as fh:
        fh.write(later[:-30])                                   # its root span not closed yet
    waiting = _analyse(folder, tmp_path / "lab", project)
    assert waiting.malformed_lines == 7 and waiting.executions.total == 8
    with open(folder / "spans.jsonl", "ab") as fh:
        fh.write(whole[-40:])
    with open(folder / "console.log", "a") as fh:
        fh.write(later[-30:])
    done = _analyse(folder, tmp_path / "lab", project)
    assert done.malformed_lines == 7 and done.executions.total == 10 and done.methods["load"].calls == 6 + 2


def test_incremental_children_before_their_root_keep_its_version(project: Path, tmp_path: Path) -> None:
    folder = tmp_path / "spans"
    traced = _Traced(project, folder / "spans.jsonl", "otlp_json_file", version="v7")
    traced.run(range(3))
    first = translate(folder, tmp_path / "lab", now_ts=datetime.now(UTC).timestamp(), timeout=900)
    assert (first.files_read, first.spans, first.executions) == (1, 3 * 4, 3)   # 3 runs of 4 spans
    with traced.tracer.start_as_current_span("survey"):      # a root still running: its children are exported
        traced.net.fetch(4)
        now = datetime.now(UTC).timestamp()
        mid_read = translate(folder, tmp_path / "lab", now_ts=now, timeout=900)
        assert (mid_read.spans, mid_read.executions) == (2, 0)         # only the new lines: fetch, connect
        mid = _analyse(folder, tmp_path / "lab", project)
        assert mid.executions.total == 3 and mid.methods["fetch"].calls == 3     # waiting for their root
    traced.close()
    root_read = translate(folder, tmp_path / "lab", now_ts=datetime.now(UTC).timestamp(), timeout=900)
    assert (root_read.spans, root_read.executions) == (1, 1)           # the root, with the two waiting calls
    after = _analyse(folder, tmp_path / "lab", project)
    assert after.executions.total == 4 and after.executions.failed == 1
    assert set(after.per_version) == {"v7"} and after.per_version["v7"].method_calls["fetch"] == 4
    again = translate(folder, tmp_path / "lab", now_ts=datetime.now(UTC).timestamp(), timeout=900)
    assert (again.files_read, again.spans) == (0, 0)               # nothing new: no file read


def test_children_whose_root_never_comes_count_after_the_timeout(project: Path, tmp_path: Path) -> None:
    folder = tmp_path / "spans"
    traced = _Traced(project, folder / "spans.jsonl", "otlp_json_file")
    root = traced.tracer.start_span("survey")         # a root that never ends, so is never exported
    with trace.use_span(root, end_on_exit=False):
        with pytest.raises(ConnectionError):
            traced.net.fetch(3)         # a fetch that failed, and its connect
        traced.net.fetch(4)
    traced.close()
    now = datetime.now(UTC)
    assert "fetch" not in _analyse(folder, tmp_path / "lab", now=now).methods
    late = _analyse(folder, tmp_path / "lab", now=now + timedelta(seconds=901))
    assert late.executions.total == 0
    assert set(late.per_version) == {"unknown"} and late.methods["fetch"].calls == 2
    assert any("4 span(s) whose root never came within 900 s" in n for n in late.notes)


def test_a_killed_translation_is_cut_back_and_redone_once(project: Path, tmp_path: Path) -> None:
    folder = _spans(project, tmp_path / "spans", runs=range(3))
    done = translate(folder, tmp_path / "lab", now_ts=datetime.now(UTC).timestamp(), timeout=900)
    [out] = list(done.folder.glob("execution_*.jsonl"))
    committed = out.read_bytes()
    with open(out, "ab") as fh:         # what a run killed before saving its state had appended
        fh.write(committed)
    translate(folder, tmp_path / "lab", now_ts=datetime.now(UTC).timestamp(), timeout=900)
    assert out.read_bytes() == committed
    (done.folder.parent / "otlp_state.json").write_text("{broken")      # a lost state: a fresh translation
    fresh = translate(folder, tmp_path / "lab", now_ts=datetime.now(UTC).timestamp(), timeout=900)
    assert fresh.folder != done.folder and not done.folder.exists() and fresh.executions == 3


def _astroagent(cwd: Path, *args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTROAGENT_")}
    env["ASTROAGENT_DATA_DIR"] = str(data)
    env["PYTHONPATH"] = str(cwd)
    return subprocess.run([sys.executable, "-m", "astroagent", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180)


def test_cli_analyze_reads_an_otel_folder(project: Path, tmp_path: Path) -> None:
    folder = _spans(project, tmp_path / "spans", "console", name="spans.log")
    out = _astroagent(project, "labtech", "analyze", "--logs", str(folder), "--format", "otel", "--json",
                      data=tmp_path / "data")
    assert out.returncode == 0, out.stderr
    doc = orjson.loads(out.stdout)
    assert doc["executions"]["total"] == RUNS and doc["executions"]["success_rate"] == 0.6
    assert {(p["method"], p["error_type"]) for p in doc["error_patterns"]} >= {("connect", "ConnectionError")}
    auto = _astroagent(project, "labtech", "analyze", "--logs", str(folder), data=tmp_path / "data")
    assert auto.returncode == 0, auto.stderr
    assert f"{RUNS} executions, 4 failed, success rate 60.0%" in auto.stdout
    bad = _astroagent(project, "labtech", "analyze", "--logs", str(folder), "--format", "zipkin",
                      data=tmp_path / "data")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "astroagent: error: Invalid value for '--format': 'zipkin' is not one of 'auto', 'contract', 'otel'."]


def test_improve_dry_run_proposes_a_retry_for_a_flaky_child_span(project: Path, tmp_path: Path) -> None:
    folder = _spans(project, tmp_path / "spans", "otlp_json_file", runs=range(12))
    before = (project / "spectra" / "net.py").read_text()
    out = _astroagent(project, "labtech", "improve", "--target", "spectra/net.py", "--logs", str(folder),
                      "--format", "otel", "--dry-run", "--json", data=tmp_path / "data")
    assert out.returncode == 0, out.stderr
    doc = orjson.loads(out.stdout)
    assert doc["executions"] == 12 and doc["success_rate"] == pytest.approx(8 / 12, abs=1e-3)
    retries = [i for i in doc["improvements_made"] if i["fix"] == "add_retry_mechanism"]
    assert retries and all(i["target"] == "spectra/net.py::connect" and i["status"] == "proposed" for i in retries)
    assert "+@tenacity.retry" in retries[0]["diff"] and "ConnectionError" in retries[0]["reason"]
    assert (project / "spectra" / "net.py").read_text() == before      # a dry run changes nothing
    # every function here has a span: nothing proposes astroagent's @instrument into traced code
    assert not [i for i in doc["improvements_made"] if i["fix"] == "add_instrumentation"]

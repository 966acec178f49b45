"""Rule fixes: each codemod's real output (accepted as its kind) and the same output with one thing more."""

from __future__ import annotations

from astroagent.labtech.fixes import apply_fix
from astroagent.labtech.models import Opportunity

from . import BASE, Case, edit

K = "rule fixes"


def _fix(fix: str, qual: str, errors: tuple[str, ...] = (), **evidence) -> str:
    opp = Opportunity(type="frequent_error", priority="high", description="d", signature="s", fix=fix,
                      error_types=errors, evidence=evidence)
    outcome = apply_fix(BASE, qual, opp)
    assert outcome.status == "applied", outcome.reason
    return outcome.new_source


RETRY = _fix("add_retry_mechanism", "fetch", ("ConnectionResetError", "HTTPError"))
CACHE = _fix("add_caching", "Fitter._residuals", repeated_args=0.5)
BREAKER = _fix("add_circuit_breaker", "status", ("ConnectionRefusedError",))
INSTRUMENT = _fix("add_instrumentation", "period")
TIMEOUT = _fix("add_timeout", "catalog", ("TimeoutError",), already_retries=False, typical_p75=0.3)
R, C, B, I, T = ("rule:add_retry_mechanism", "rule:add_caching", "rule:add_circuit_breaker",
                 "rule:add_instrumentation", "rule:add_timeout")

CASES = [
    Case("retry-output", K, RETRY, True, "the retry rule's own output", change=R, functions=("fetch",)),
    Case("cache-output", K, CACHE, True, "the caching rule's own output (method delegating to a cached helper)",
         change=C, functions=("Fitter._residuals",)),
    Case("breaker-output", K, BREAKER, True, "the breaker rule's own output", change=B, functions=("status",)),
    Case("instrument-output", K, INSTRUMENT, True, "the instrumentation rule's own output", change=I,
         functions=("period",)),
    Case("timeout-output", K, TIMEOUT, True, "the timeout rule's own output (with its retry)", change=T,
         functions=("catalog",)),
    Case("retry-plus-body-change", K, edit("            return response.read()", "            return b''", RETRY),
         False, "the retry decorator and a changed body", "shape", change=R),
    Case("retry-no-reraise", K, edit("reraise=True", "reraise=False", RETRY), False,
         "a retry that swallows the last error", "wrapping", change=R),
    Case("retry-unbounded", K, edit("tenacity.stop_after_attempt(5)", "tenacity.stop_after_attempt(10 ** 9)", RETRY),
         False, "a retry that never stops", "wrapping", change=R),
    Case("retry-everything", K, edit("retry_if_exception_type(ConnectionError)", "retry_if_exception_type(Exception)",
                                     RETRY), False, "a retry of deterministic bugs too", "wrapping", change=R),
    Case("retry-instead-of-instrument", K, RETRY.replace("@instrument\n", "", 1), False,
         "@instrument dropped beside the new retry", "wrapping", change=R),
    Case("retry-with-extra-import", K, edit("import tenacity\n", "import tenacity\nimport subprocess\n", RETRY), False,
         "an import the rule never adds", "imports", change=R),
    Case("predicate-tampered", K, edit("return exc.code >= 500 or exc.code == 429", "return True", RETRY), False,
         "the generated HTTP predicate changed to retry every status", "shape", change=R),
    Case("cache-plus-import", K, edit("import functools\n", "import functools\nimport os.path\n", CACHE), False,
         "the cache and an import it never adds", "imports", change=C),
    Case("cache-helper-tampered", K, edit("return copy.deepcopy(value)", "return value", CACHE), False,
         "the guarded cache no longer copies mutable results", "shape", change=C),
    Case("breaker-swallows", K, edit("                raise\n", "                return None\n", BREAKER), False,
         "the generated breaker changed to swallow the failure", "shape", change=B),
    Case("instrument-local-noop", K, edit("log = logging.getLogger(__name__)\n",
                                          "log = logging.getLogger(__name__)\n\n\ndef instrument(f):\n    return f\n",
                                          INSTRUMENT), False, "instrument redefined beside the rule's decorator",
         "shape", change=I),
    Case("instrument-foreign", K, edit("from astroagent.telemetry import instrument\n",
                                       "from mylib import instrument\n", INSTRUMENT), False,
         "instrument imported from somewhere else", change=I),
    Case("timeout-plus-url", K, edit('f"{ARCHIVE}/catalog"', '"http://evil.example"', TIMEOUT), False,
         "the timeout and a new destination", "shape", change=T),
    Case("rule-output-other-target", K, RETRY, False, "the retry output judged as a change of sigma_clip only",
         "shape", change=R, functions=("sigma_clip",)),
    Case("tenacity-rebound", K, edit("log = logging.getLogger(__name__)\n",
                                     "log = logging.getLogger(__name__)\ntenacity = None\n", RETRY), False,
         "tenacity rebound after its import", change=R),
    Case("rule-output-as-other-rule", K, RETRY, False, "a retry is not the caching rule's shape", change=C),
]

"""Public API: names, parameters, defaults and decorators callers rely on, changed in plain or hidden ways."""

from __future__ import annotations

from . import Case, append, edit

K = "public API"

CASES = [
    Case("rebind-after-def", K, append("def _stub(*a, **k):\n    return b''\n\n\nfetch = _stub"), False,
         "fetch replaced by a stub after its def", "shape"),
    Case("constant-decorator", K, edit("@instrument\ndef fetch(", "@_const\n@instrument\ndef fetch(",
                                       append("def _const(f):\n    return lambda *a, **k: b''")), False,
         "a decorator that returns a constant", "public-api"),
    Case("defaults-rewritten", K, append("def _h():\n    fetch.__defaults__ = (0,)"), False,
         "a function's defaults rewritten", "dynamic-code"),
    Case("default-through-constant", K, edit("DEFAULT_SIGMA = 3.0", "DEFAULT_SIGMA = 1.0"), False,
         "sigma_clip's default changed through its constant", "shape"),
    Case("property-added", K, edit("    @instrument\n    def fit(", "    @property\n    @instrument\n    def fit("),
         False, "a method became a property", "public-api"),
    Case("all-shrunk", K, edit('"parse_row", "Fitter"]', '"Fitter"]'), False, "__all__ shrunk", "shape"),
    Case("renamed", K, edit("def fetch(name", "def fetch_curve(name"), False, "fetch renamed", "public-api"),
    Case("class-removed", K, edit("class Fitter:", "class _Fitter:"), False, "a public class made private",
         "public-api"),
    Case("param-removed", K, edit("def fetch(name, retries=3, *, timeout=10.0):", "def fetch(name, *, timeout=10.0):"),
         False, "a parameter removed", "parameters"),
    Case("param-renamed", K, edit("def period(times, fluxes,", "def period(t, fluxes,"), False,
         "a parameter renamed", "parameters"),
    Case("required-added", K, edit("def status(name):", "def status(name, token):"), False,
         "a required parameter added", "parameters"),
    Case("default-changed", K, edit("lo=0.5, hi=20.0", "lo=0.5, hi=2.0"), False, "a default changed",
         "parameters"),
    Case("keyword-only-to-positional", K, edit("retries=3, *, timeout=10.0", "retries=3, timeout=10.0"), False,
         "keyword-only became positional", "parameters"),
    Case("made-async", K, edit("def status(name):", "async def status(name):"), False, "sync became async",
         "public-api"),
    Case("new-public-function", K, append("def upload(x):\n    return x"), False, "a new public function",
         "public-api"),
    Case("new-public-class", K, append("class Uploader:\n    pass"), False, "a new public class", "public-api"),
    Case("new-public-constant", K, append("TIMEOUT = 1"), False, "a new public constant", "public-api"),
    Case("bases-changed", K, edit("class Fitter:", "class Fitter(dict):"), False, "a class's bases changed",
         "public-api"),
    Case("method-removed", K, edit("    def _residuals(self, x, y, coeffs):\n        return y - np.polyval(coeffs, x)\n",
                                   ""), False, "a method removed"),
    Case("return-annotation", K, edit("def parse_row(row):", "def parse_row(row) -> __import__('os').system('id'):"),
         False, "an annotation is code evaluated at def time", "public-api"),
    Case("del-at-import", K, append("del fetch"), False, "fetch deleted at import", "shape"),
    Case("method-replaced", K, append("Fitter.fit = lambda self, x, y: [0.0]"), False,
         "a method replaced at import", "assignment"),
    Case("new-public-method", K, edit("    def _residuals(", "    def refit(self):\n        return self\n\n"
                                      "    def _residuals("), False, "a new public method", "public-api"),
    Case("other-function-changed", K, edit("    return min(max(best, lo), hi)", "    return best"), False,
         "the change may touch sigma_clip only, period changed", "shape", functions=("sigma_clip",)),
    Case("dunder-method-added", K, edit("    def _residuals(", "    def __getattr__(self, name):\n        return 0\n\n"
                                        "    def _residuals("), False, "a dunder added to an old class"),
]

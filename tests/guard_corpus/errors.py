"""Swallowed errors: handlers that widen, return defaults, or only seem to re-raise."""

from __future__ import annotations

from . import Case, append, edit

K = "swallowed errors"
RAISE = '        log.warning("reset while fetching %s", name)\n        raise\n'
SIGMA = "    data = list(values)\n"
PERIOD_EXC = "    except ValueError:\n"

CASES = [
    Case("finally-return", K, edit("    except ConnectionResetError:\n" + RAISE,
                                   "    finally:\n        return b''\n"), False,
         "a return in finally ends every error in flight", "except-widened"),
    Case("finally-break", K, edit(SIGMA, SIGMA + "    for _ in range(1):\n        try:\n            data = data[:]\n"
                                  "        finally:\n            break\n"), False, "break in finally", "except-widened"),
    Case("finally-continue", K, edit(SIGMA, SIGMA + "    for _ in range(1):\n        try:\n            data = data[:]\n"
                                     "        finally:\n            continue\n"), False, "continue in finally",
         "except-widened"),
    Case("new-narrow-default", K, edit(RAISE, '        log.warning("reset while fetching %s", name)\n'
                                              "        return b''\n"), False,
         "a reset used to raise; now it returns an empty body (success 60 % -> 100 %)", "except-widened"),
    Case("new-handler-default", K, edit("    while len(data) > 2:\n",
                                        "    try:\n        mean = sum(data) / len(data)\n    except ZeroDivisionError:\n"
                                        "        return []\n    while len(data) > 2:\n"), False,
         "a brand-new handler that returns a default", "except-widened"),
    Case("httperror-to-oserror", K, edit("    except urllib.error.HTTPError:\n", "    except OSError:\n"), False,
         "a non-builtin class widened to a builtin parent", "except-widened"),
    Case("httperror-to-urlerror", K, edit("    except urllib.error.HTTPError:\n", "    except urllib.error.URLError:\n"),
         False, "widened to its library parent", "except-widened"),
    Case("exception-tuple-constant", K, edit("    except ConnectionResetError:\n" + RAISE,
                                             "    except _ERRORS:\n        return b''\n",
                                             edit("DEFAULT_SIGMA = 3.0\n", "DEFAULT_SIGMA = 3.0\n_ERRORS = (Exception,)\n")),
         False, "(Exception,) held in a constant", "except-widened"),
    Case("suppress-star", K, edit(SIGMA, SIGMA + "    with contextlib.suppress(*_T):\n        data.sort()\n",
                                  edit("import math\n", "import math\nimport contextlib\n_T = (Exception,)\n")), False,
         "contextlib.suppress of a tuple of everything", "except-widened"),
    Case("dead-raise", K, edit(RAISE, '        log.warning("reset while fetching %s", name)\n        return None\n'
                                      "        raise\n"), False, "the raise sits after a return", "except-widened"),
    Case("conditional-raise", K, edit(RAISE, '        log.warning("reset while fetching %s", name)\n'
                                             "        if retries > 100:\n            raise\n"), False,
         "the raise happens only when retries > 100", "except-widened"),
    Case("raise-under-if-false", K, edit(RAISE, '        log.warning("reset while fetching %s", name)\n'
                                                "        if False:\n            raise\n"), False,
         "the raise is under if False", "except-widened"),
    Case("exit-returns-true", K, edit(SIGMA, SIGMA + "    with _Quiet():\n        data.sort()\n",
                                      append("class _Quiet:\n    def __enter__(self):\n        return self\n\n"
                                             "    def __exit__(self, *exc):\n        return True")), False,
         "a context manager whose __exit__ returns True", "wrapping"),
    Case("context-decorator", K, append("class _Guard:\n    def __call__(self, f):\n        return f\n\n"
                                        "    def __exit__(self, *exc):\n        return True\n\n\n"
                                        "@_Guard()\ndef _helper():\n    return 1"), False,
         "a context decorator on a new helper", "wrapping"),
    Case("bare-except-pass", K, edit("        coeffs = np.polyfit(x, y, self.order)\n",
                                     "        try:\n            coeffs = np.polyfit(x, y, self.order)\n        except:\n"
                                     "            coeffs = None\n"), False, "bare except in fit", "except-widened"),
    Case("base-exception", K, edit("        for v in outliers:\n            data.remove(v)\n",
                                   "        try:\n            for v in outliers:\n                data.remove(v)\n"
                                   "        except BaseException:\n            break\n"), False,
         "except BaseException swallows KeyboardInterrupt", "except-widened"),
    Case("exception-to-baseexception", K, edit("    except Exception:\n        return None\n",
                                               "    except BaseException:\n        return None\n"), False,
         "a broad handler made broader still", "except-widened"),
    Case("valueerror-to-exception", K, edit(PERIOD_EXC, "    except Exception:\n"), False,
         "ValueError widened to Exception", "except-widened"),
    Case("valueerror-tuple-widened", K, edit(PERIOD_EXC, "    except (ValueError, IndexError):\n"), False,
         "IndexError added to a swallowing handler", "except-widened"),
    Case("settrace-jump", K, edit(RAISE, RAISE.replace("        raise\n", "        sys.settrace(None)\n        raise\n"),
                                  edit("import math\n", "import math\nimport sys\n")), False,
         "tracing can jump past the raise", "tracing"),
    Case("except-star", K, edit("    except ConnectionResetError:\n" + RAISE,
                                "    except* Exception:\n        pass\n"), False, "except* swallowing everything",
         "except-widened"),
    Case("loop-return-in-handler", K, edit(RAISE, '        log.warning("reset while fetching %s", name)\n'
                                                  "        while True:\n            return None\n        raise\n"), False,
         "a loop returns before the raise", "except-widened"),
    Case("raise-only-in-nested-def", K, edit(RAISE, '        log.warning("reset while fetching %s", name)\n'
                                                    "        def _again():\n            raise\n        return None\n"),
         False, "the raise is in a function never called", "except-widened"),
    Case("oserror-swallow-in-save", K, edit("    path.write_bytes(data)\n",
                                            "    try:\n        path.write_bytes(data)\n    except OSError:\n"
                                            "        pass\n"), False, "a failed write reported as saved",
         "except-widened"),
    Case("status-swallow-more", K, edit("    except urllib.error.HTTPError:\n",
                                        "    except (urllib.error.HTTPError, ConnectionError):\n"), False,
         "a connection failure now reads as 'no status'", "except-widened"),
]

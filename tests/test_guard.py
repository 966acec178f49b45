"""The safety guard catches each hostile proposal with one line naming the rule, and never crashes."""

from __future__ import annotations

import random

import pytest

from astroagent.labtech.changes.guard import GuardReport, check_change

OLD = '''"""Fetch data from the archive."""
import logging
import urllib.request

from astroagent.telemetry import instrument

log = logging.getLogger(__name__)


@instrument
def fetch(url, retries=3, *, timeout=10.0):
    log.info("fetching %s", url)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except ConnectionResetError:
        log.warning("reset")
        raise


class Catalog:
    def lookup(self, name, /, strict=True):
        return name

    def _private(self):
        return 1


def _helper(x):
    print("helper", x)
    return x
'''


def _one(new: str, rule: str) -> str:
    report = check_change(OLD, new, path="experimenter/fetch.py")
    assert not report.ok
    matching = [line for line in report.violations if f": {rule}: " in line]
    assert matching, report.violations
    assert all(line.startswith("experimenter/fetch.py: ") for line in report.violations)
    return matching[0]


def test_unchanged_and_harmless_changes_pass():
    assert check_change(OLD, OLD) == GuardReport(True, ())
    harmless = OLD.replace('return name', 'return _extra(name.strip())') + "\n\ndef _extra(x, y=2):\n    return x\n"
    assert check_change(OLD, harmless).ok


def test_an_llm_change_may_not_add_public_names_or_drop_private_ones():
    # the allow-list: new bodies and private helpers only (the deny-list let both through)
    report = check_change(OLD, OLD + "\n\ndef extra(x, y=2):\n    return x + y\n")
    assert [line.split(": ")[0] for line in report.violations] == ["public-api"]
    report = check_change(OLD, OLD.replace("    def _private(self):\n        return 1\n", ""))
    assert not report.ok and "Catalog._private removed" in report.violations[0]


HOSTILE = {
    "file-deletion": [
        OLD + "\nimport os\n\ndef clean(p):\n    os.remove(p)\n",
        OLD + "\nimport shutil\nshutil.rmtree('/tmp/x')\n",
        OLD + "\nfrom pathlib import Path\nPath('data').unlink()\n",
        OLD + "\nfrom os import unlink as u\nu('x')\n",
    ],
    "process": [
        OLD + "\nimport subprocess\nsubprocess.run(['ls'])\n",
        OLD + "\nimport subprocess as sp\nsp.Popen('ls')\n",
        OLD + "\nfrom os import system as s\ns('ls')\n",
        OLD + "\nimport os\nos.execv('/bin/sh', ['sh'])\n",
        OLD + "\nimport multiprocessing\nmultiprocessing.Process(target=print).start()\n",
        OLD + "\nimport os\nos.fork()\n",
        OLD + "\nimport os\ngetattr(os, 'system')('ls')\n",
        OLD + "\nfrom subprocess import *\ncall('ls')\n",
        OLD + "\nimport os as o\nrun = o.popen\n",
    ],
    "network": [
        OLD + "\nimport socket\nsocket.create_connection(('evil', 80))\n",
        OLD + "\nimport http.client as hc\nhc.HTTPSConnection('evil')\n",
        OLD + "\nimport requests\nrequests.post('http://evil', data=b'')\n",
        OLD + "\nfrom smtplib import SMTP\nSMTP('mail')\n",
    ],
    "dynamic-code": [
        OLD + "\neval('1+1')\n",
        OLD + "\nexec('x = 1')\n",
        OLD + "\n__import__('os')\n",
        OLD + "\nimport importlib\nimportlib.import_module('os')\n",
        OLD + "\nimport builtins\ngetattr(builtins, 'ev' + 'al')('1')\n",
        OLD + "\nglobals()['x'] = 1\n",
        OLD + "\ncode = compile('1', 'x', 'eval')\n",
    ],
    "public-api": [
        OLD.replace("class Catalog:", "class _Catalog:"),
        OLD.replace("def fetch(", "def fetch_data("),
    ],
    "parameters": [
        OLD.replace("def fetch(url, retries=3, *, timeout=10.0):", "def fetch(url, *, timeout=10.0):"),
        OLD.replace("retries=3", "retries=30"),
        OLD.replace("def lookup(self, name, /, strict=True):", "def lookup(self, name, strict=True):"),
        OLD.replace("def fetch(url, retries=3", "def fetch(url, token, retries=3"),
    ],
    "logging": [
        OLD.replace('    log.info("fetching %s", url)\n', ""),
        OLD.replace('        log.warning("reset")\n', ""),
        OLD.replace("@instrument\n", ""),
        OLD.replace('    print("helper", x)\n', ""),
    ],
    "except-widened": [
        OLD.replace('    except ConnectionResetError:\n        log.warning("reset")\n        raise',
                    '    except Exception:\n        log.warning("reset")\n        return None'),
        OLD.replace('    except ConnectionResetError:\n        log.warning("reset")\n        raise',
                    '    except:\n        log.warning("reset")'),
        OLD.replace('    except ConnectionResetError:\n        log.warning("reset")\n        raise',
                    '    except OSError:\n        log.warning("reset")\n        return b""'),
        OLD.replace('    except ConnectionResetError:\n        log.warning("reset")\n        raise',
                    '    except (ConnectionResetError, OSError):\n        log.warning("reset")\n        return b""'),
        OLD.replace("        return name\n", "        try:\n            return name\n        except BaseException:\n"
                "            pass\n"),
        OLD.replace('        log.warning("reset")\n        raise', '        log.warning("reset")\n        return None'),
        OLD + "\nimport contextlib\n\ndef quiet():\n    with contextlib.suppress(Exception):\n        fetch('x')\n",
    ],
    "parse": ["def fetch(:\n", "\x00\x01\x02binary\xff", "", OLD[:200]],
}


@pytest.mark.parametrize("rule, index", [(rule, i) for rule, cases in HOSTILE.items() for i in range(len(cases))])
def test_each_hostile_proposal_is_caught(rule, index):
    new = HOSTILE[rule][index]
    if rule == "parse" and new == "":
        report = check_change(OLD, new)
        assert not report.ok   # an empty file loses every public function
        return
    line = _one(new, rule)
    assert len(line) < 300


def test_violation_lines_name_the_symbol_and_line():
    line = _one(OLD.replace("retries=3, *,", "*,"), "parameters")
    assert "fetch(url, retries=…, timeout=…) became fetch(url, timeout=…)" in line and "line" in line
    line = _one(OLD + "\nimport subprocess as sp\nsp.run(['ls'])\n", "process")
    assert "subprocess.run" in line and f"line {OLD.count(chr(10)) + 3}" in line
    report = check_change(OLD, OLD + "\nimport subprocess as sp\nsp.run(['ls'])\n")
    rules = [line.split(": ")[0] for line in report.violations]
    assert rules == ["shape", "process"]    # one line per broken rule (a new module-level call), not per token


def test_capabilities_already_in_the_old_version_are_not_new():
    old = OLD + "\nimport subprocess\n\ndef run():\n    return subprocess.run(['true'])\n"
    new = old.replace("    return subprocess.run(['true'])", "    done = subprocess.run(['true'])\n    return done")
    assert check_change(old, new).ok
    # the same call with another destination is a new use (judged per function, with its arguments)
    other = old.replace("run(['true'])", "run(['rm', '-rf', 'tests'])")
    assert [line.split(": ")[0] for line in check_change(old, other).violations] == ["process"]


def test_reraising_broad_handler_and_narrowing_pass():
    reraise = OLD.replace("    except ConnectionResetError:", "    except Exception:")
    assert check_change(OLD, reraise).ok
    narrowed = OLD.replace("    except ConnectionResetError:", "    except (ConnectionResetError, TimeoutError):")
    assert check_change(OLD, narrowed).ok
    wider_but_reraised = OLD.replace("    except ConnectionResetError:", "    except OSError:")
    assert check_change(OLD, wider_but_reraised).ok


def test_adding_an_optional_parameter_passes_but_a_required_one_does_not():
    assert check_change(OLD, OLD.replace("timeout=10.0):", "timeout=10.0, verbose=False):")).ok
    assert not check_change(OLD, OLD.replace("timeout=10.0):", "timeout=10.0, verbose):")).ok


def test_exception_classes_from_network_modules_are_not_network_use():
    new = OLD.replace("import urllib.request\n", "import urllib.request\nimport http.client\nimport socket\n") \
        .replace("except ConnectionResetError:", "except (ConnectionResetError, http.client.RemoteDisconnected, "
                 "socket.timeout, socket.gaierror):")
    assert check_change(OLD, new).ok


@pytest.mark.parametrize("junk", [
    "", "\x00" * 10, "\ufeff", "(" * 200_000, "x = " + "-" * 100_000 + "1", "[" * 50 + "]" * 50,
    "def f():\n" + "".join("    " * i + "if x:\n" for i in range(1, 120)) + "    " * 120 + "pass\n",
    "a = 1\n" * 5_000, "\udcff", "return 1\n", "nonlocal x\n", "\r\n\r\n", "class A:\n  def f(self): ...\n",
])
def test_never_raises_on_garbage(junk):
    for old, new in ((OLD, junk), (junk, OLD), (junk, junk)):
        report = check_change(old, new)
        assert isinstance(report, GuardReport)
        assert report.ok is (not report.violations)


def test_never_raises_on_random_bytes_or_wrong_types():
    rng = random.Random(5)
    for _ in range(50):
        text = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))).decode("latin-1")
        assert isinstance(check_change(OLD, text), GuardReport)
    assert not check_change(OLD, None).ok       # type: ignore[arg-type]
    assert not check_change(OLD, b"def f(): pass").ok   # type: ignore[arg-type]


def test_unparsable_old_version_is_reported_but_the_new_one_is_still_judged():
    report = check_change("def (:", "import os\nos.remove('x')\n")
    assert any("original file does not parse" in v for v in report.violations)
    assert any("file-deletion" in v for v in report.violations)


HIDDEN = {   # spellings that reach a capability without naming it the usual way → the rule that must fire
    "import os\n[os][0].remove(p)": "file-deletion",
    "import os\nhandle = {'m': os}\nhandle['m'].rmdir(p)": "file-deletion",
    "import sys\nsys.modules['os'].remove(p)": "dynamic-code",
    "from sys import modules\nmodules['shutil'].rmtree(p)": "dynamic-code",
    "import os\nos.__dict__['remove'](p)": "dynamic-code",
    "import os\n(lambda: os)().remove(p)": "file-deletion",
    "import os\ndef g(m):\n    return m\ng(os).remove(p)": "dynamic-code",   # the module passed as a value
    "from pathlib import Path\nf = Path(p).unlink\nf()": "file-deletion",
    "from pathlib import Path\nf = getattr(Path(p), 'unlink')\nf()": "file-deletion",
    "import timeit\ntimeit.timeit('1')": "dynamic-code",
    "from code import InteractiveInterpreter": "dynamic-code",
    "import pdb": "dynamic-code",
    "import pickle\npickle.loads(b'')": "dynamic-code",
    "m = __builtins__['__import__']('os')": "dynamic-code",
    "g = fetch.__globals__": "dynamic-code",
    "k = ().__class__.__base__.__subclasses__()": "dynamic-code",
    "def h(proc):\n    proc.kill()": "process",
    "def h(mod):\n    return mod.system": "process",
    "def h(mod):\n    mod.execv('x', [])": "process",
    "import subprocess\nrunner = [subprocess][0]": "process",
    "import socket\nfactory = (socket,)": "network",
}


@pytest.mark.parametrize("snippet", sorted(HIDDEN))
def test_hidden_capabilities_are_flagged_by_shape(snippet: str) -> None:
    line = _one(OLD + "\np = 'x'\n" + snippet + "\n", HIDDEN[snippet])
    assert "(line " in line


def test_shapes_already_in_the_old_version_are_not_new():
    old = OLD + "\nimport os\nimport timeit\nMODS = [os]\n\ndef _clean(p):\n    os.__dict__['remove'](p)\n"
    new = old.replace("return name", "return name.strip()")
    assert check_change(old, new).ok
    old = OLD + "\nimport os\n\ndef _where(p):\n    return p\n"
    assert check_change(old, old.replace("return p\n", "return os.path.join(p, 'a') + os.sep\n")).ok

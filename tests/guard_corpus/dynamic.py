"""Dynamic code: source that decodes to something else, and ways to reach eval, pickles or builtins."""

from __future__ import annotations

from . import BASE, Case, append, edit

K = "dynamic code"
BODY = "    data = list(values)\n"


def body(code: str) -> str:
    """``code`` (one or more lines) added at the start of sigma_clip's body."""
    return edit(BODY, BODY + "".join(f"    {line}\n" for line in code.splitlines()))


HIDDEN = b'# done +AAo-import subprocess+AAo-subprocess.run(["true"])\n'

CASES = [
    Case("utf7-cookie", K, b"# coding: utf-7\n" + BASE.encode() + HIDDEN, False,
         "Python decodes +AAo- as a newline: a hidden subprocess.run", "encoding"),
    Case("latin1-cookie", K, b"# -*- coding: latin-1 -*-\n" + BASE.encode(), False,
         "only UTF-8 source is accepted", "encoding"),
    Case("utf16-bytes", K, BASE.encode("utf-16"), False, "UTF-16 with its BOM is not UTF-8", "encoding"),
    Case("invalid-utf8", K, BASE.encode() + b"# \xff\xfe\n", False, "bytes that are not UTF-8", "encoding"),
    Case("cookie-second-line", K, b"#!/usr/bin/env python\n# vim: set fileencoding=utf-7 :\n" + BASE.encode() + HIDDEN,
         False, "the cookie counts on line 2 too", "encoding"),
    Case("len-self", K, body("b = len.__self__"), False, "len.__self__ is the builtins module", "dynamic-code"),
    Case("print-self-eval", K, body("print.__self__.eval('1')"), False, "builtins reached through print",
         "dynamic-code"),
    Case("np-load-pickle", K, body("blob = np.load('x.npy', allow_pickle=True)"), False,
         "allow_pickle runs pickled code", "dynamic-code"),
    Case("yaml-unsafe-load", K, edit("import math\n", "import math\nimport yaml\n", body("cfg = yaml.unsafe_load('x')")),
         False, "yaml.unsafe_load builds arbitrary objects", "dynamic-code"),
    Case("logging-sys-modules", K, body("mods = logging.sys.modules"), False, "sys.modules through logging",
         "dynamic-code"),
    Case("eval", K, body("eval('1 + 1')"), False, "eval", "dynamic-code"),
    Case("exec", K, body("exec('x = 1')"), False, "exec", "dynamic-code"),
    Case("compile-function-type", K, body("code = compile('1', 'x', 'eval')"), False, "compile", "dynamic-code"),
    Case("dunder-import", K, body("sp = __import__('subprocess')"), False, "__import__", "dynamic-code"),
    Case("builtins-getattr", K, body("f = getattr(__builtins__, 'ev' + 'al')"), False,
         "a computed name on __builtins__", "dynamic-code"),
    Case("globals-write", K, body("globals()['fetch'] = print"), False, "globals() rebinds a public name",
         "dynamic-code"),
    Case("vars-of-module", K, body("loader = vars(np)['load']"), False, "vars() of a module", "dynamic-code"),
    Case("importlib", K, edit("import math\n", "import math\nimport importlib\n",
                              body("m = importlib.import_module('os')")), False, "importlib", "dynamic-code"),
    Case("pickle-loads", K, edit("import math\n", "import math\nimport pickle\n", body("obj = pickle.loads(b'')")),
         False, "pickle.loads", "dynamic-code"),
    Case("attrgetter-dunder", K, edit("import math\n", "import math\nimport operator\n",
                                      body("b = operator.attrgetter('__self__')(len)")), False,
         "attrgetter with a string reaches a dunder", "dynamic-code"),
    Case("function-globals", K, body("g = fetch.__globals__"), False, "a function's globals", "dynamic-code"),
    Case("subclasses-walk", K, body("k = ().__class__.__base__.__subclasses__()"), False,
         "every class in the process", "dynamic-code"),
    Case("module-dict", K, body("d = np.__dict__"), False, "a module's namespace", "dynamic-code"),
    Case("breakpoint", K, body("breakpoint()"), False, "a debugger runs what it is told", "dynamic-code"),
    Case("builtins-subscript", K, body("e = __builtins__['exec']"), False, "__builtins__ as a mapping",
         "dynamic-code"),
    Case("eval-as-value", K, body("f = eval\nf('1')"), False, "eval passed around as a value", "dynamic-code"),
    Case("compile-in-default", K, append("def _h(code=compile('1', 'x', 'eval')):\n    return code"), False,
         "a default argument runs compile at import", "dynamic-code"),
    Case("format-dunder", K, body("leak = '{0.__globals__}'.format(fetch)"), False,
         "a format string reaching a dunder attribute", "dynamic-code"),
    Case("input", K, body("answer = input()"), False, "input reads whatever it is given", "dynamic-code"),
    Case("unbound-name", K, body("os2 = ossystem('ls')"), False, "a name bound nowhere", "names"),
]

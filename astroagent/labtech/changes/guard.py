"""The safety guard: what two versions of one file can show about DESIGN §5 rule 2.

A proposal (from a codemod or an LLM — untrusted either way) must keep every public function,
class and parameter and every log/telemetry call, must not widen an ``except`` to swallow
errors, and must add no dynamic code, process spawning, network or file deletion that the old
version did not have. ``check_change`` never raises: anything it cannot read is a violation.

Decisions: "public" means module- and class-level names without a leading ``_`` (dunders count);
parameters keep name, kind, order and default, new ones need a default; log calls are
``logging``/``logger``/``log`` methods, ``print``, ``warnings.warn``, telemetry ``span``/``event``/
``record_*`` and ``@instrument``, counted per function; names are resolved through import
aliases (``import subprocess as sp``, ``from os import system as s``, ``getattr(os, "system")``);
exception classes from network modules are not network use; a broad or wider ``except`` counts
only when its body does not re-raise. Spellings that hide a capability are flagged by shape, only
when new: introspection names (``sys.modules``, ``__dict__``, ``__builtins__`` …), modules that
run strings (``timeit``, ``code``, ``pdb`` …), a dangerous module used as a value (in a list,
returned, passed, assigned) and any attribute named like a deletion / spawn method (``.unlink``).
"""

from __future__ import annotations

import ast
import builtins
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["GuardReport", "check_change", "RULES"]

RULES = ("parse", "public-api", "parameters", "logging", "dynamic-code", "process", "network",
         "file-deletion", "except-widened")

_MAX_SOURCE = 5_000_000

_DYNAMIC_BUILTINS = {"eval", "exec", "compile", "__import__", "globals", "vars", "locals", "breakpoint"}
_DYNAMIC_PREFIXES = ("importlib", "builtins", "__builtins__", "ctypes", "marshal.loads", "marshal.load",
                     "pickle.load", "pickle.loads", "pickle.Unpickler", "runpy", "sys.modules", "timeit", "codeop",
                     "pdb", "code.compile_command", "code.interact", "code.InteractiveConsole", "types.FunctionType",
                     "types.CodeType")
_PROCESS_PREFIXES = ("subprocess", "multiprocessing", "pty", "os.system", "os.popen", "os.exec", "os.spawn",
                     "os.fork", "os.forkpty", "os.posix_spawn", "os.kill", "os.killpg",
                     "concurrent.futures.ProcessPoolExecutor", "asyncio.create_subprocess",
                     "asyncio.subprocess")
_NETWORK_PREFIXES = ("socket", "ssl", "http.client", "http.server", "urllib.request", "urllib3", "requests",
                     "httpx", "aiohttp", "ftplib", "smtplib", "poplib", "imaplib", "telnetlib", "nntplib",
                     "xmlrpc", "socketserver", "websocket", "websockets", "paramiko", "asyncio.open_connection",
                     "asyncio.start_server", "asyncio.open_unix_connection", "webbrowser")
_DELETE_NAMES = ("os.remove", "os.unlink", "os.rmdir", "os.removedirs", "os.truncate", "shutil.rmtree",
                 "shutil.move", "os.rename", "os.replace")
_DELETE_METHODS = {"unlink": "Path.unlink", "rmdir": "Path.rmdir", "rmtree": "rmtree"}
# Modules whose import alone is new dynamic code (they compile or run strings / foreign code).
_CODE_MODULES = {"timeit", "code", "codeop", "runpy", "ctypes", "importlib", "pdb", "marshal", "pickle", "shelve",
                 "dill", "cloudpickle", "bdb", "cffi"}
# Names that reach modules, globals or code objects behind the guard's back.
_INTROSPECTION = {"__dict__", "__builtins__", "__globals__", "__getattribute__", "__subclasses__", "__code__",
                  "__import__", "__closure__", "__loader__", "f_globals", "f_builtins", "f_locals", "gi_frame",
                  "cr_frame", "tb_frame"}
# Modules that must only appear as ``module.attr``: as a bare value they let any attribute be reached.
_VALUE_MODULES = {"os": "file-deletion", "shutil": "file-deletion", "pathlib": "file-deletion",
                  "posix": "file-deletion", "nt": "file-deletion", "sys": "dynamic-code", "builtins": "dynamic-code",
                  "importlib": "dynamic-code", "ctypes": "dynamic-code", "subprocess": "process",
                  "multiprocessing": "process", "pty": "process", "signal": "process", "socket": "network",
                  "ssl": "network", "urllib.request": "network", "http.client": "network", "asyncio": "process"}
# Attribute names of deletion / spawn methods: any new reference (called or not) is a violation.
_DANGER_ATTRS = {name: "file-deletion" for name in ("remove", "unlink", "rmdir", "rmtree", "removedirs", "truncate",
                                                    "ftruncate", "unlinkat")}
_DANGER_ATTRS.update({name: "process" for name in (
    "system", "popen", "fork", "forkpty", "kill", "killpg", "posix_spawn", "posix_spawnp", "spawnl", "spawnle",
    "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "execl", "execle", "execlp", "execlpe",
    "execv", "execve", "execvp", "execvpe", "Popen", "check_output", "check_call", "getoutput", "getstatusoutput",
    "create_subprocess_exec", "create_subprocess_shell")})
_LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}
_TELEMETRY_METHODS = {"span", "event", "execution", "fail", "record_success", "record_failure", "record"}
_BROAD = {"Exception", "BaseException", "<bare>"}
_EXC_SUFFIXES = ("Error", "error", "Exception", "Warning", "timeout", "herror", "Disconnected", "IncompleteRead",
                 "BadStatusLine", "Timeout", "Interrupt")


@dataclass(frozen=True)
class GuardReport:
    """``ok`` when no rule is broken; ``violations`` holds one line per broken rule."""

    ok: bool
    violations: tuple[str, ...] = ()


@dataclass
class _Facts:
    public: dict[str, tuple[str, int, tuple]] = field(default_factory=dict)  # qualname → (kind, line, params)
    logs: Counter = field(default_factory=Counter)                           # (scope, call) → count
    log_lines: dict = field(default_factory=dict)
    capabilities: dict[tuple[str, str], int] = field(default_factory=dict)   # (rule, name) → first line
    swallowing: Counter = field(default_factory=Counter)                     # (scope, type) → count
    swallow_lines: dict = field(default_factory=dict)
    handler_types: dict[str, set[str]] = field(default_factory=dict)         # scope → types caught
    swallowed_types: dict[str, set[str]] = field(default_factory=dict)       # … by handlers not re-raising
    handler_lines: dict = field(default_factory=dict)


def _parse(source: str, label: str) -> tuple[ast.Module | None, str | None]:
    if not isinstance(source, str):
        return None, f"{label} file is not text"
    if len(source) > _MAX_SOURCE:
        return None, f"{label} file is too large to check ({len(source)} characters)"
    try:
        tree = ast.parse(source, filename=label, type_comments=False)
        compile(tree, label, "exec", dont_inherit=True)   # catches what only the compiler sees
        return tree, None
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return None, f"{label} file does not parse: {exc.msg}{where}"
    except (ValueError, RecursionError, MemoryError, TypeError) as exc:
        return None, f"{label} file does not parse: {type(exc).__name__}: {str(exc)[:120]}"


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name → what it names: ``sp`` → ``subprocess``, ``s`` → ``os.system``."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    names.setdefault(alias.name.split(".")[0], alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _dotted(node.value)   # ``s = os.system``: follow one level of renaming
            if value and node.targets[0].id not in names:
                names[node.targets[0].id] = _resolve(value, names)
    return names


def _star_rules(module: str) -> list[str]:
    """The rules a ``from module import *`` could break (its names then hide behind bare calls)."""
    found = []
    for rule, names in (("dynamic-code", _DYNAMIC_PREFIXES), ("process", _PROCESS_PREFIXES),
                        ("network", _NETWORK_PREFIXES), ("file-deletion", _DELETE_NAMES)):
        if any(n == module or n.startswith(module + ".") or module.startswith(n + ".") for n in names):
            found.append(rule)
    return found


def _resolve(dotted: str, aliases: dict[str, str]) -> str:
    head, _, rest = dotted.partition(".")
    base = aliases.get(head, head)
    return f"{base}.{rest}" if rest else base


def _matches(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") or (p.endswith(("exec", "spawn", "fork", "posix_spawn",
               "create_subprocess")) and name.startswith(p)) for p in prefixes)


def _is_exception_name(name: str) -> bool:
    return name.rsplit(".", 1)[-1].endswith(_EXC_SUFFIXES)


def _capability(name: str) -> str | None:
    if _is_exception_name(name):
        return None
    if name in _DYNAMIC_BUILTINS or _matches(name, _DYNAMIC_PREFIXES):
        return "dynamic-code"
    if _matches(name, _PROCESS_PREFIXES):
        return "process"
    if name in _DELETE_NAMES:
        return "file-deletion"
    if _matches(name, _NETWORK_PREFIXES):
        return "network"
    return None


def _params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple:
    args = node.args
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    out = []
    for i, arg in enumerate(positional):
        kind = "positional-only" if i < len(args.posonlyargs) else "positional"
        out.append((arg.arg, kind, ast.dump(defaults[i]) if defaults[i] is not None else None))
    if args.vararg:
        out.append((args.vararg.arg, "*args", None))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        out.append((arg.arg, "keyword-only", ast.dump(default) if default is not None else None))
    if args.kwarg:
        out.append((args.kwarg.arg, "**kwargs", None))
    return tuple(out)


def _render(params: tuple) -> str:
    return "(" + ", ".join(name + ("=…" if default else "") for name, _, default in params) + ")"


def _is_public(qualname: str) -> bool:
    return all(not part.startswith("_") or (part.startswith("__") and part.endswith("__"))
               for part in qualname.split("."))


def _log_key(call: ast.Call, aliases: dict[str, str]) -> str | None:
    func = call.func
    dotted = _dotted(func)
    resolved = _resolve(dotted, aliases) if dotted else None
    if resolved == "print" or resolved == "warnings.warn" or (
            resolved and resolved.startswith("logging.") and resolved.rsplit(".", 1)[-1] in _LOG_METHODS):
        return resolved
    if isinstance(func, ast.Attribute):
        receiver = (_dotted(func.value) or "").lower()
        if func.attr in _LOG_METHODS and ("log" in receiver or receiver.endswith(("logger", "_log"))):
            return f"{receiver}.{func.attr}"
        if func.attr in _TELEMETRY_METHODS or func.attr.startswith("record_"):
            return f"{receiver or '<expr>'}.{func.attr}"
    if resolved and resolved.rsplit(".", 1)[-1] in ("instrument", "record_event", "emit_event"):
        return resolved.rsplit(".", 1)[-1]
    return None


def _handler_types(handler: ast.ExceptHandler, aliases: dict[str, str]) -> list[str]:
    if handler.type is None:
        return ["<bare>"]
    nodes = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return [_resolve(_dotted(n), aliases) if _dotted(n) else "<expr>" for n in nodes]


def _reraises(handler: ast.ExceptHandler) -> bool:
    return any(isinstance(n, ast.Raise) for stmt in handler.body for n in ast.walk(stmt))


class _Collector:
    """One iterative pass over a tree (no recursion, so deep nesting cannot crash it)."""

    def __init__(self, tree: ast.Module) -> None:
        self.facts = _Facts()
        self.aliases = _aliases(tree)
        self.modules = {v for v in self.aliases.values() if "." not in v and v.isidentifier()}
        self.tree = tree

    def run(self) -> _Facts:
        # each item: (node, scope qualname, public-api prefix — None once inside a function)
        stack: list[tuple[ast.AST, str, str | None]] = [(self.tree, "<module>", "")]
        while stack:
            node, scope, api = stack.pop()
            child_scope, child_api = scope, api
            if isinstance(node, ast.Attribute):
                self.attribute(node)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                child_scope, child_api = self.definition(node, scope, api)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                self.code_import(node)
            elif isinstance(node, ast.Constant) and node.value in _INTROSPECTION and node.value.startswith("__"):
                _note(self.facts.capabilities, ("dynamic-code", f"the name {node.value}"), node.lineno)
            elif isinstance(node, ast.Call):
                self.call(node, scope)
            elif isinstance(node, (ast.Name, ast.Attribute)) and isinstance(getattr(node, "ctx", None), ast.Load):
                if self.reference(node) and isinstance(node, ast.Attribute):
                    continue   # its parts are the same reference: ``os`` in ``os.remove`` is not another
            if isinstance(node, ast.ImportFrom) and node.module and any(a.name == "*" for a in node.names):
                for rule in _star_rules(node.module):
                    _note(self.facts.capabilities, (rule, f"from {node.module} import *"), node.lineno)
            elif isinstance(node, ast.ExceptHandler):
                self.handler(node, scope)
            for child in ast.iter_child_nodes(node):
                stack.append((child, child_scope, child_api))
        return self.facts

    def attribute(self, node: ast.Attribute) -> None:
        """Every attribute of a chain (``a.b.unlink``): introspection and deletion / spawn method names."""
        while isinstance(node, ast.Attribute):
            self.attr_name(node.attr, node.lineno)
            node = node.value

    def attr_name(self, attr: str, line: int) -> None:
        if attr in _INTROSPECTION:
            _note(self.facts.capabilities, ("dynamic-code", f"the attribute .{attr}"), line)
        elif attr in _DANGER_ATTRS:
            _note(self.facts.capabilities, (_DANGER_ATTRS[attr], f"the attribute .{attr}"), line)

    def code_import(self, node: ast.Import | ast.ImportFrom) -> None:
        """Importing a module that runs strings or foreign code is itself new dynamic code."""
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            modules = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names if node.module]
            if not node.module or node.level:
                return
        for module in modules:
            if module.split(".")[0] in _CODE_MODULES:
                _note(self.facts.capabilities, ("dynamic-code", f"import {module.split('.')[0]}"), node.lineno)

    def definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, scope: str,
                   api: str | None) -> tuple[str, str | None]:
        qual = node.name if scope == "<module>" else f"{scope}.{node.name}"
        child_api = None
        if api is not None:   # module level or directly in a class: part of the public surface
            api_name = f"{api}.{node.name}" if api else node.name
            if _is_public(api_name):
                kind = "class" if isinstance(node, ast.ClassDef) else (
                    "async function" if isinstance(node, ast.AsyncFunctionDef) else "function")
                params = () if isinstance(node, ast.ClassDef) else _params(node)
                self.facts.public[api_name] = (kind, node.lineno, params)
            child_api = api_name if isinstance(node, ast.ClassDef) else None
        for dec in node.decorator_list:
            target = dec.func if isinstance(dec, ast.Call) else dec
            if _resolve(_dotted(target) or "", self.aliases).rsplit(".", 1)[-1] == "instrument":
                self.facts.logs[(qual, "@instrument")] += 1
                _note(self.facts.log_lines, (qual, "@instrument"), dec.lineno)
        return qual, child_api

    def call(self, node: ast.Call, scope: str) -> None:
        facts, func = self.facts, node.func
        key = _log_key(node, self.aliases)
        if key:
            facts.logs[(scope, key)] += 1
            _note(facts.log_lines, (scope, key), node.lineno)
        if isinstance(func, ast.Attribute) and func.attr in _DELETE_METHODS:
            _note(facts.capabilities, ("file-deletion", _DELETE_METHODS[func.attr]), node.lineno)
        resolved = _resolve(_dotted(func) or "", self.aliases)
        if resolved == "getattr" and node.args:
            self.getattr_call(node)
        if resolved in ("getattr", "hasattr", "setattr", "operator.attrgetter", "operator.methodcaller"):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    self.attr_name(arg.value.rsplit(".", 1)[-1], node.lineno)
        if resolved in ("suppress", "contextlib.suppress"):
            for arg in node.args:
                name = _resolve(_dotted(arg) or "", self.aliases)
                if name in _BROAD:
                    facts.swallowing[(scope, name)] += 1
                    _note(facts.swallow_lines, (scope, name), node.lineno)

    def getattr_call(self, node: ast.Call) -> None:
        first = _resolve(_dotted(node.args[0]) or "", self.aliases)
        name_arg = node.args[1] if len(node.args) > 1 else None
        literal = isinstance(name_arg, ast.Constant) and isinstance(name_arg.value, str)
        if first in ("builtins", "__builtins__") or (first in self.modules and not literal):
            _note(self.facts.capabilities, ("dynamic-code", f"getattr({first}, …)"), node.lineno)
        elif first in self.modules and literal:
            name = f"{first}.{name_arg.value}"      # getattr(os, "system") is os.system
            rule = _capability(name)
            if rule:
                _note(self.facts.capabilities, (rule, name), node.lineno)

    def reference(self, node: ast.Name | ast.Attribute) -> bool:
        """Note a dangerous name; False when the node is not a plain dotted name (look inside it)."""
        dotted = _dotted(node)
        if not dotted:
            return False
        if isinstance(node, ast.Name) and node.id in _INTROSPECTION:
            _note(self.facts.capabilities, ("dynamic-code", f"the name {node.id}"), node.lineno)
        if isinstance(node, ast.Name) and self.aliases.get(node.id) in _VALUE_MODULES:
            module = self.aliases[node.id]   # a bare module (not ``module.attr``) can reach any attribute
            _note(self.facts.capabilities, (_VALUE_MODULES[module], f"module {module} used as a value"), node.lineno)
        if isinstance(node, ast.Name) and node.id not in self.aliases and node.id not in _DYNAMIC_BUILTINS:
            return True   # a local or builtin name that no import bound
        resolved = _resolve(dotted, self.aliases)
        rule = _capability(resolved)
        if rule:
            _note(self.facts.capabilities, (rule, resolved), node.lineno)
        return True

    def handler(self, node: ast.ExceptHandler, scope: str) -> None:
        facts = self.facts
        types = _handler_types(node, self.aliases)
        facts.handler_types.setdefault(scope, set()).update(types)
        if _reraises(node):
            return
        facts.swallowed_types.setdefault(scope, set()).update(types)
        for t in types:
            _note(facts.handler_lines, (scope, t), node.lineno)
            if t in _BROAD:
                facts.swallowing[(scope, t)] += 1
                _note(facts.swallow_lines, (scope, t), node.lineno)


def _facts(tree: ast.Module) -> _Facts:
    return _Collector(tree).run()


def _note(table: dict, key: tuple, line: int) -> None:
    table[key] = min(line, table.get(key, line))


def _builtin_exception(name: str) -> type | None:
    value = getattr(builtins, name, None)
    return value if isinstance(value, type) and issubclass(value, BaseException) else None


def _compare(old: _Facts, new: _Facts) -> list[str]:
    out: list[str] = []
    for qual, (kind, line, params) in old.public.items():
        if qual not in new.public:
            out.append(f"public-api: {kind} {qual} removed (old line {line})")
            continue
        new_kind, new_line, new_params = new.public[qual]
        if new_kind != kind:
            out.append(f"public-api: {qual} changed from {kind} to {new_kind} (line {new_line})")
        if params != new_params and not _params_kept(params, new_params):
            out.append(f"parameters: {qual}{_render(params)} became {qual}{_render(new_params)} "
                       f"(line {new_line})")
    for key, count in old.logs.items():
        scope, call = key
        if new.logs.get(key, 0) < count:
            missing = count - new.logs.get(key, 0)
            out.append(f"logging: {missing} {call} call(s) removed from {scope} "
                       f"(old line {old.log_lines.get(key)})")
    added = {key: line for key, line in new.capabilities.items() if key not in old.capabilities}
    for (rule, name), line in sorted(added.items(), key=lambda item: item[1]):
        if any(r == rule and other.startswith(name + ".") for r, other in added):
            continue   # ``subprocess`` is shown as the more telling ``subprocess.run``
        if name.startswith("the attribute .") and any(
                r == rule and other != name and (other == name[15:] or other.endswith("." + name[15:]))
                for r, other in added):
            continue   # ``.remove`` of ``os.remove`` is the same use
        out.append(f"{rule}: new use of {name} (line {line})")
    for key, count in new.swallowing.items():
        if count > old.swallowing.get(key, 0):
            scope, kind = key
            shown = "bare except:" if kind == "<bare>" else f"except {kind}"
            out.append(f"except-widened: new {shown} in {scope} swallows errors without re-raising "
                       f"(line {new.swallow_lines.get(key)})")
    for scope, types in new.swallowed_types.items():
        old_types = old.handler_types.get(scope, set())
        for t in sorted(types & old_types - old.swallowed_types.get(scope, set()) - _BROAD):
            out.append(f"except-widened: except {t} in {scope} now swallows errors it re-raised before "
                       f"(line {new.handler_lines.get((scope, t))})")
        for t in sorted(types - old_types):
            wide = _builtin_exception(t)
            if wide is None or t in _BROAD:
                continue   # broad handlers are judged above
            narrower = sorted(o for o in old_types
                              if (c := _builtin_exception(o)) is not None and c is not wide and issubclass(c, wide))
            if narrower:
                out.append(f"except-widened: except {', '.join(narrower)} broadened to except {t} in {scope} "
                           f"without re-raising (line {new.handler_lines.get((scope, t))})")
    return out


def _params_kept(old: tuple, new: tuple) -> bool:
    """Every old parameter is still there, in order, same kind and default; additions have defaults."""
    index = 0
    for param in new:
        if index < len(old) and param == old[index]:
            index += 1
        elif param[2] is None and param[1] not in ("*args", "**kwargs"):
            return False
    return index == len(old)


def check_change(old_source: str, new_source: str, *, path: str | None = None) -> GuardReport:
    """Judge ``new_source`` against ``old_source``; never raises (unreadable input is a violation)."""
    prefix = f"{path}: " if path else ""
    try:
        new_tree, new_error = _parse(new_source, "proposed")
        if new_error:
            return GuardReport(False, (f"{prefix}parse: {new_error}",))
        old_tree, old_error = _parse(old_source, "original")
        old_facts = _facts(old_tree) if old_tree is not None else _Facts()
        new_facts = _facts(new_tree)
        lines = _compare(old_facts, new_facts)
        if old_error:
            lines.insert(0, f"parse: {old_error}; judged against an empty baseline")
    except (RecursionError, MemoryError) as exc:
        lines = [f"parse: file too deeply nested or too large to check ({type(exc).__name__})"]
    except Exception as exc:  # the guard must never be the thing that crashes
        lines = [f"parse: could not check the change: {type(exc).__name__}: {str(exc)[:120]}"]
    return GuardReport(not lines, tuple(prefix + line for line in lines))

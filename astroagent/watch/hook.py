"""The import hook ``astroagent watch`` installs in each Python process of the watched command.

It is loaded by ``_bootstrap/sitecustomize.py`` at interpreter start and must stay cheap: it
imports only the standard library's import machinery. A watched module is compiled from its
source with one decorator added to each module- and class-level ``def`` (``_source.py``);
the telemetry behind that decorator (``wrap.py``) is imported when the first watched module
runs. Nothing is written to the package's files or its ``__pycache__``.

The runner and the hook talk through environment variables (inherited by child processes,
so they are watched too) and marker files in a report folder:

    hooked             some process installed the hook
    imported-<NAME>    package NAME was imported by some process
    started            (process mode) the execution_start was written, by exactly one process
    nohook / lost      one line: why a process could not be watched / why events were lost
"""

from __future__ import annotations

import builtins
import os
import sys
from importlib import _bootstrap  # type: ignore[attr-defined]
from importlib.machinery import SourceFileLoader
from types import CodeType, ModuleType

__all__ = ["WatchConfig", "install_from_env", "borrow_paths", "return_paths", "mark", "ENV", "DECORATOR", "config"]

DECORATOR = "__astroagent_watch__"
ENV = {
    "packages": "ASTROAGENT_WATCH_PACKAGES",
    "agent": "ASTROAGENT_WATCH_AGENT",
    "mode": "ASTROAGENT_WATCH_MODE",
    "data": "ASTROAGENT_WATCH_DATA",
    "base": "ASTROAGENT_WATCH_BASE",
    "report": "ASTROAGENT_WATCH_REPORT",
    "execution": "ASTROAGENT_WATCH_EXECUTION",
    "syspath": "ASTROAGENT_WATCH_SYSPATH",
    "tag": "ASTROAGENT_WATCH_TAG",
}


class WatchConfig:
    """What the runner asked for, as the child process reads it from its environment.

    A plain class: ``dataclasses`` would cost this hook more start-up time than all the rest."""

    __slots__ = ("packages", "agent", "mode", "data_dir", "base", "report_dir", "execution_id")

    def __init__(self, packages: tuple[str, ...], agent: str, mode: str, data_dir: str, base: str,
                 report_dir: str, execution_id: str | None):
        self.packages, self.agent, self.mode, self.data_dir = packages, agent, mode, data_dir
        self.base, self.report_dir, self.execution_id = base, report_dir, execution_id

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str]) -> "WatchConfig | None":
        packages = tuple(p for p in env.get(ENV["packages"], "").split(",") if p)
        if not packages or not env.get(ENV["data"]):
            return None
        return cls(packages=packages, agent=env.get(ENV["agent"]) or packages[0],
                   mode=env.get(ENV["mode"]) or "call", data_dir=env[ENV["data"]],
                   base=env.get(ENV["base"]) or os.getcwd(), report_dir=env.get(ENV["report"], ""),
                   execution_id=env.get(ENV["execution"]) or None)

    def package_of(self, module: str) -> str | None:
        """The watched package ``module`` belongs to (the longest matching name), or None."""
        best = None
        for name in self.packages:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > len(best)):
                best = name
        return best


_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_CONFIG: list[WatchConfig] = []
ROOTS: dict[str, str] = {}  # watched package -> its folder (or module file), as the import system found it


def config() -> WatchConfig | None:
    return _CONFIG[0] if _CONFIG else None


def mark(name: str, text: str = "", *, exclusive: bool = False) -> bool:
    """Create marker ``name`` in the report folder; with ``exclusive``, True only for the first process."""
    cfg = config()
    folder = cfg.report_dir if cfg else os.environ.get(ENV["report"], "")
    if not folder:
        return False
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else 0)
    try:
        fd = os.open(os.path.join(folder, name), flags, 0o644)
    except OSError:  # FileExistsError (not the first) or the runner is gone: nothing to tell
        return False
    try:
        if text:
            os.write(fd, text.encode("utf-8", "replace")[:2000])
    finally:
        os.close(fd)
    return True


def borrow_paths() -> list[str]:
    """Let this interpreter import astroagent from the runner's install until ``return_paths``.

    Only when the interpreter is the same kind (cache tag) as the runner's; the paths are removed
    again, so the watched program's own imports see its usual ``sys.path``."""
    added: list[str] = []
    if os.environ.get(ENV["tag"]) == sys.implementation.cache_tag:
        added = [p for p in os.environ.get(ENV["syspath"], "").split(os.pathsep) if p and p not in sys.path]
    sys.path.extend(added)
    return added


def return_paths(added: list[str]) -> None:
    for path in added:
        try:
            sys.path.remove(path)
        except ValueError:
            pass


class _WatchingLoader(SourceFileLoader):
    """Compiles a watched module with the watch decorator on its functions, never caching that code."""

    def get_code(self, fullname: str) -> CodeType | None:
        cfg = config()
        if cfg is None or sys.modules.get(fullname) is None:
            # not an import (runpy asking for ``python -m pkg``'s __main__): the program's entry
            # module is the caller of the package, not part of what is watched
            return super().get_code(fullname)
        try:
            from astroagent.watch._source import compile_watched

            return _bootstrap._call_with_frames_removed(compile_watched, self.get_data(self.path), self.path,
                                                        fullname)
        except BaseException as exc:  # a SyntaxError shows as it would without watch
            _drop_own_frames(exc)
            raise


def _drop_own_frames(exc: BaseException) -> None:
    """Unlink this package's frames from ``exc``'s traceback, so the import system trims its own as usual."""
    head = exc.__traceback__
    while head is not None and head.tb_frame.f_code.co_filename.startswith(_HERE):
        head = head.tb_next
    tb = head
    while tb is not None:
        while tb.tb_next is not None and tb.tb_next.tb_frame.f_code.co_filename.startswith(_HERE):
            tb.tb_next = tb.tb_next.tb_next
        tb = tb.tb_next
    exc.__traceback__ = head


class _WatchFinder:
    """A ``sys.meta_path`` finder that hands watched modules to ``_WatchingLoader``."""

    def __init__(self, cfg: WatchConfig):
        self._cfg = cfg
        self._tops = frozenset(name.partition(".")[0] for name in cfg.packages)

    def find_spec(self, fullname: str, path: object = None, target: ModuleType | None = None) -> object:
        if fullname.partition(".")[0] not in self._tops or self._cfg.package_of(fullname) is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if type(spec.loader) is SourceFileLoader:  # allow-list: C extensions, .pyc-only, zips stay as they are
            spec.loader = _WatchingLoader(spec.loader.name, spec.loader.path)
        if fullname in self._cfg.packages:
            locations = spec.submodule_search_locations
            ROOTS[fullname] = os.path.realpath(locations[0] if locations else (spec.origin or ""))
            mark(f"imported-{fullname}")
        return spec

    def invalidate_caches(self) -> None:
        """Nothing cached here; the finders it asks keep their own caches."""


def _identity(obj: object) -> object:
    return obj


def _unwatched(module: str, qualname: str) -> object:
    return _identity


def _decorator(module: str, qualname: str) -> object:
    """What the added ``@__astroagent_watch__(module, qualname)`` calls: loads the wrappers on first use."""
    added = borrow_paths()
    try:
        from astroagent.watch import wrap
    except Exception as exc:  # e.g. orjson missing here: the program runs on, unwatched
        mark("nohook", f"{sys.executable} could not load the watch wrappers: {type(exc).__name__}: {exc}")
        setattr(builtins, DECORATOR, _unwatched)
        return _identity
    finally:
        return_paths(added)
    decorate = wrap.decorator(module, qualname)
    setattr(builtins, DECORATOR, wrap.decorator)
    return decorate


def install_from_env() -> bool:
    """Install the hook described by the environment; False when this process is not watched."""
    cfg = WatchConfig.from_env(os.environ)
    if cfg is None or _CONFIG:
        return False
    _CONFIG.append(cfg)
    setattr(builtins, DECORATOR, _decorator)  # the added decorator is looked up like any builtin name
    sys.meta_path.insert(0, _WatchFinder(cfg))
    mark("hooked")
    return True

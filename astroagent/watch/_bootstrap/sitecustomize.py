"""Run by every Python process that ``astroagent watch`` starts (this folder is first on PYTHONPATH).

Installs the import hook, then runs the ``sitecustomize`` this file shadows, if there is one.
A process that cannot load the hook runs unwatched and says why to the runner, never to the
program's own output.
"""

import os
import sys


def _install() -> None:
    try:
        try:
            from astroagent.watch import hook
        except ImportError:  # this interpreter lacks astroagent: borrow the runner's copy for the hook
            if os.environ.get("ASTROAGENT_WATCH_TAG") != sys.implementation.cache_tag:
                raise
            extra = [p for p in os.environ.get("ASTROAGENT_WATCH_SYSPATH", "").split(os.pathsep)
                     if p and p not in sys.path]
            sys.path.extend(extra)
            try:
                from astroagent.watch import hook
            finally:
                for path in extra:
                    if path in sys.path:
                        sys.path.remove(path)
        hook.install_from_env()
    except Exception as exc:
        folder = os.environ.get("ASTROAGENT_WATCH_REPORT")
        if folder:
            try:
                with open(os.path.join(folder, "nohook"), "w", encoding="utf-8") as out:
                    out.write(f"{sys.executable} (Python {sys.version.split()[0]}) could not load the watch hook: "
                              f"{type(exc).__name__}: {exc}"[:500])
            except OSError:
                pass


def _chain() -> None:
    """Run the next ``sitecustomize`` on sys.path, as Python would have without this one."""
    from importlib._bootstrap import module_from_spec  # what importlib.util re-exports, without its imports
    from importlib._bootstrap_external import PathFinder

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_install()
_chain()

"""Which third-party packages a change makes the code import that its project does not declare.

A fix may bring a library in (``import tenacity`` for a retry); the project's users then need it
installed. The change says so in its reason and the report instead of failing on their machines.
Declared means named in ``pyproject.toml`` (PEP 621 dependencies and extras, Poetry), ``setup.cfg``
(``install_requires``, ``extras_require``) or ``requirements*.txt`` of the workspace. A workspace with
none of these (one ``astroagent init`` made) runs under astroagent and its dependencies: nothing to say.
"""

from __future__ import annotations

import ast
import configparser
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

__all__ = ["new_imports", "undeclared", "dependency_note"]

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _top_imports(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def new_imports(old: str, new: str) -> set[str]:
    """Top-level modules ``new`` imports that ``old`` did not (absolute imports only)."""
    return _top_imports(new) - _top_imports(old)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _requirement_names(lines: list[str]) -> set[str]:
    return {_norm(m.group(1)) for line in lines if (m := _NAME.match(line)) and not line.lstrip().startswith("-")}


def _declared(workspace: Path) -> set[str]:
    names: set[str] = set()
    try:
        data = tomllib.loads((workspace / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        data = {}
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    names |= _requirement_names([str(d) for d in project.get("dependencies") or []])
    for extra in (project.get("optional-dependencies") or {}).values():
        names |= _requirement_names([str(d) for d in extra or []])
    poetry = (data.get("tool") or {}).get("poetry") or {}
    for key in ("dependencies", "dev-dependencies"):
        names |= {_norm(n) for n in (poetry.get(key) or {})}
    parser = configparser.ConfigParser()
    try:
        parser.read(workspace / "setup.cfg", encoding="utf-8")
        names |= _requirement_names(parser.get("options", "install_requires", fallback="").splitlines())
        if parser.has_section("options.extras_require"):
            for _key, value in parser.items("options.extras_require"):
                names |= _requirement_names(value.splitlines())
    except (configparser.Error, UnicodeDecodeError):
        pass
    for req in workspace.glob("requirements*.txt"):
        try:
            names |= _requirement_names(req.read_text(encoding="utf-8").splitlines())
        except (OSError, UnicodeDecodeError):
            continue
    return names


def undeclared(modules: set[str], workspace: Path) -> list[str]:
    """The third-party ``modules`` the workspace's project does not declare (stdlib and its own code excluded)."""
    workspace = Path(workspace)
    if not any((workspace / f).is_file() for f in ("pyproject.toml", "setup.cfg", "setup.py")) \
            and not any(workspace.glob("requirements*.txt")):
        return []
    declared = _declared(workspace)
    distributions = metadata.packages_distributions()
    out = []
    for module in sorted(modules):
        if module in sys.stdlib_module_names or module == "__future__":
            continue
        if (workspace / module).is_dir() or (workspace / f"{module}.py").is_file() or (workspace / "src" / module).is_dir():
            continue
        dists = {_norm(d) for d in distributions.get(module, [])} | {_norm(module)}
        if not dists & declared:
            out.append(module)
    return out


def dependency_note(modules: list[str], workspace: Path) -> str:
    """The words a change's reason gains when it adds undeclared dependencies ('' when none)."""
    if not modules:
        return ""
    where = "pyproject.toml" if (Path(workspace) / "pyproject.toml").is_file() else "the project"
    return (f" — adds a dependency: {', '.join(modules)} (imported by the change, not declared in {where}; "
            "add it to the project's dependencies)")

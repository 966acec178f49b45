"""The layout keeps its promises (docs/architecture.md): the import graph follows the data flow,
the edges use the facade, modules stay small and long functions say why."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import astroagent
import astroagent.labtech as labtech

PACKAGE = Path(astroagent.__file__).parent
LABTECH = PACKAGE / "labtech"
EDGES = ("cli", "agents", "orchestration", "dashboard")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts
                  and "workspace_template" not in p.parts)


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out.append(base)
            out += [f"{base}.{alias.name}" for alias in node.names]
    return out


def _subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["astroagent", "labtech"] else None


def _labtech_imports(sub: str) -> set[str]:
    found = set()
    for path in _modules(LABTECH / sub):
        found |= {m for m in _imports(path) if m.startswith("astroagent.labtech.")}
    return found


def test_knowledge_is_a_leaf() -> None:
    assert {m for m in _labtech_imports("knowledge") if _subpackage(m) not in ("knowledge", "models")} == set()


@pytest.mark.parametrize("sub, forbidden", [("analysis", {"fixes", "changes", "llm", "reports"}),
                                            ("fixes", {"analysis", "changes", "llm", "reports"}),
                                            ("llm", {"changes", "reports"})])
def test_a_stage_never_imports_a_later_one(sub: str, forbidden: set[str]) -> None:
    assert {m for m in _labtech_imports(sub) if _subpackage(m) in forbidden} == set()


def test_no_private_module_is_imported_across_a_subpackage_boundary() -> None:
    crossings = []
    for path in _modules(PACKAGE):
        here = path.relative_to(PACKAGE.parent).with_suffix("").parts
        for module in _imports(path):
            parts = module.split(".")
            private = [i for i, part in enumerate(parts) if part.startswith("_") and not part.startswith("__")]
            if not private or parts[0] != "astroagent":
                continue
            owner = parts[: private[0]]
            if PACKAGE.parent.joinpath(*owner).with_suffix(".py").is_file():
                owner = owner[:-1]          # a private name of a module: its package owns it
            if list(here[: len(owner)]) != owner:
                crossings.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert crossings == []


def test_the_edges_use_only_the_labtech_facade() -> None:
    deep = []
    for edge in EDGES:
        for path in _modules(PACKAGE / edge):
            deep += [f"{path.relative_to(PACKAGE)}: {m}" for m in _imports(path)
                     if m.startswith("astroagent.labtech.") and m.split(".")[2] not in labtech.__all__]
    assert deep == []


def test_every_facade_name_resolves() -> None:
    for name in labtech.__all__:
        assert getattr(labtech, name) is not None, name


def test_modules_stay_under_400_lines() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in _modules(PACKAGE)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_a_function_over_60_lines_says_why() -> None:
    """A long function carries a ``# long:`` comment on the line above its ``def`` (or decorators)."""
    unexplained = []
    for path in _modules(PACKAGE):
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES and "# long:" not in lines[first - 2]:
                    unexplained.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({length} lines)")
    assert unexplained == []

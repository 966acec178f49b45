"""Load generated source as a real module, the way the fix tests run what a codemod wrote."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["load_module"]


def load_module(folder: Path, name: str, source: str) -> ModuleType:
    """Write ``source`` to ``folder/name.py`` and import it as ``name`` (registered in sys.modules)."""
    path = Path(folder) / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

"""The program's exception classes, read from its code: the analysed files, the workspace modules they
import (a class they raise may be defined there) and those their classes' bases come from
(``from .errors import ArchiveError``), each parsed once per content.

An error type telemetry logs by name (``FetchError``) is judged by what the class derives from
(``knowledge.hierarchy``); this module only finds and reads the files. Modules are named as
validation imports them (``astroagent.paths.module_of``); nothing outside the workspace is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from astroagent.atomic import atomic_write_bytes
from astroagent.labtech.analysis._facts_digest import facts_digest
from astroagent.labtech.analysis._state_dir import CLASSES_CACHE_FILE, state_file
from astroagent.labtech.knowledge.hierarchy import Hierarchy, ModuleClasses, known_type, module_classes
from astroagent.paths import module_of, workspace_relative

__all__ = ["workspace_classes", "MAX_FOLLOWED"]

MAX_FOLLOWED = 64     # workspace modules read beyond the given files, to find where bases are defined


class _Reader:
    def __init__(self, workspace: Path | None, cache: dict[str, Any], sources: Mapping[Path, str]) -> None:
        self.workspace = workspace.resolve() if workspace is not None else None
        self.cache, self.sources = cache, {Path(p).resolve(): s for p, s in sources.items()}
        self.modules: dict[str, ModuleClasses] = {}
        self.read: set[Path] = set()
        self.used: set[str] = set()      # cache entries of the files read this time (the rest is dropped)
        self.files: dict[str, Path | None] = {}     # module → its workspace file (file_of)

    def rel(self, file: Path) -> str | None:
        """``file`` relative to the workspace, None outside it."""
        rel = workspace_relative(file, self.workspace)
        return None if self.workspace is None or Path(rel).is_absolute() else rel

    def add(self, file: Path) -> None:
        file = Path(file).resolve()
        if file in self.read:
            return
        self.read.add(file)
        rel = self.rel(file)
        try:
            data = self.sources[file].encode("utf-8") if file in self.sources else file.read_bytes()
            module = module_of(self.workspace, rel) if rel is not None else file.stem  # type: ignore[arg-type]
        except (OSError, ValueError, UnicodeError):
            return
        key, digest = rel or file.as_posix(), facts_digest(data)
        self.used.add(key)
        hit = self.cache.get(key)
        if isinstance(hit, dict) and hit.get("hash") == digest and hit.get("module") == module:
            try:
                self.modules[module] = ModuleClasses.from_json(hit["classes"])
                return
            except (KeyError, TypeError, ValueError):
                pass
        found = module_classes(data.decode("utf-8", "replace"), module, key, package=file.name == "__init__.py")
        self.modules[module] = found
        if file not in self.sources:
            self.cache[key] = {"hash": digest, "module": module, "classes": found.to_json()}

    def file_of(self, module: str) -> Path | None:
        """The workspace file imported as ``module`` (flat or src layout), if there is one (looked up once:
        every round of ``wanted`` asks again for every import of every module read)."""
        if self.workspace is None:
            return None
        if module not in self.files:
            path, self.files[module] = module.replace(".", "/"), None
            for rel in (f"{root}{path}{end}" for root in ("", "src/") for end in (".py", "/__init__.py")):
                if (self.workspace / rel).is_file() and module_of(self.workspace, rel) == module:
                    self.files[module] = (self.workspace / rel).resolve()
                    break
        return self.files[module]

    def wanted(self, hierarchy: Hierarchy, names: Iterable[str]) -> list[Path]:
        """Files defining a base (or one of ``names``) that no read module defines (through a package's
        re-exports)."""
        out: list[Path] = []
        for ref in dict.fromkeys([*names, *(ref for cls in hierarchy.classes.values() for ref in cls.bases)]):
            if hierarchy.own(ref) is not None or known_type(ref) is not None:
                continue
            for _ in range(8):   # follow what read modules re-export to where it is defined
                module, _, name = ref.rpartition(".")
                if module not in self.modules or name not in self.modules[module].imports:
                    break
                ref = self.modules[module].imports[name]
            parts = ref.split(".")
            for n in range(len(parts), 0, -1):     # a module itself, else the module defining the name
                file = self.file_of(".".join(parts[:n]))
                if file is not None:      # read already: the name is no class there, its package is not asked
                    if file not in self.read and file not in out:
                        out.append(file)
                    break
        return out


def workspace_classes(files: Iterable[Path], workspace: Path | None, *, state_dir: Path | None = None,
                      sources: Mapping[Path, str] | None = None, names: Iterable[str] = ()) -> Hierarchy:
    """The exception classes of ``files``, of the workspace modules they import, and of those their bases
    (or the qualified ``names``) come from.

    ``sources`` replaces the text of some files (a proposal not yet written); ``state_dir`` keeps a
    cache of each file's classes by content."""
    cache_path = state_file(state_dir, CLASSES_CACHE_FILE) if state_dir is not None else None
    cache: dict[str, Any] = {}
    if cache_path is not None:
        try:
            loaded = orjson.loads(cache_path.read_bytes())
            cache = loaded if isinstance(loaded, dict) else {}
        except (OSError, orjson.JSONDecodeError):
            pass
    before = dict(cache)
    reader = _Reader(workspace, cache, sources or {})
    for file in files:
        reader.add(Path(file))
    hierarchy = Hierarchy(reader.modules.values())
    followed = 0
    # what the files import from the workspace: a class they raise may be defined there
    names = [*names, *(target for m in reader.modules.values() for target in m.imports.values())]
    while followed < MAX_FOLLOWED and (more := reader.wanted(hierarchy, names)):
        for file in more[: MAX_FOLLOWED - followed]:
            reader.add(file)
            followed += 1
        hierarchy = Hierarchy(reader.modules.values())
    kept = {k: v for k, v in cache.items() if k in reader.used}
    if cache_path is not None and kept != before:
        try:
            atomic_write_bytes(cache_path, orjson.dumps(kept))
        except OSError:
            pass    # a cache: the next run parses again
    return hierarchy

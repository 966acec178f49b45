"""A change that imports a library its project does not declare says so (issue 14)."""

from __future__ import annotations

from pathlib import Path

from astroagent.labtech.changes.dependencies import dependency_note, new_imports, undeclared

OLD = "import json\n\ndef f():\n    return json\n"
NEW = "import json\nimport tenacity\nfrom cachetools import cached\nfrom . import sibling\nimport mypkg.util\n"


def test_only_new_third_party_imports_the_project_lacks_are_named(tmp_path: Path) -> None:
    (tmp_path / "mypkg").mkdir()
    added = new_imports(OLD, NEW)
    assert added == {"tenacity", "cachetools", "mypkg"}
    assert undeclared(added, tmp_path) == []          # no project metadata: a workspace run under astroagent
    (tmp_path / "setup.py").write_text("")
    assert undeclared(added, tmp_path) == ["cachetools", "tenacity"]
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mypkg"\ndependencies = ["Tenacity>=8"]\n'
                                             '[project.optional-dependencies]\nfast = ["cachetools"]\n')
    assert undeclared(added, tmp_path) == []
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mypkg"\n')
    (tmp_path / "requirements.txt").write_text("# pinned\ntenacity==8.2\n-r other.txt\n")
    assert undeclared(added, tmp_path) == ["cachetools"]
    note = dependency_note(["cachetools"], tmp_path)
    assert "adds a dependency: cachetools" in note and "pyproject.toml" in note
    assert dependency_note([], tmp_path) == ""

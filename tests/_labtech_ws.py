"""Small hand-made research workspaces for the Lab Technician's improvement tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

COMPUTE = '''\
"""Arithmetic the tests check."""


def square(x):
    """The square of x."""
    return x * x


def mean(values):
    return sum(values) / len(values)
'''

TEST_COMPUTE = '''\
from experimenter.compute import mean, square


def test_square():
    assert square(3) == 9


def test_mean():
    assert mean([1, 2, 3]) == 2
'''


def make_workspace(root: Path, files: dict[str, str] | None = None, *, config: str = "") -> Path:
    """A workspace with ``experimenter/compute.py`` and its test, plus ``files`` (path → text)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "astroagent.yaml").write_text(textwrap.dedent(config) or "lab_technician: {}\n")
    layout = {"experimenter/__init__.py": "", "experimenter/compute.py": COMPUTE,
              "tests/test_compute.py": TEST_COMPUTE, **(files or {})}
    for rel, text in layout.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "data").mkdir(exist_ok=True)
    return root

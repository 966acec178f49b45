"""Issue 14 end to end, as a new user heals a project of their own: its own pyproject.toml, package and
tests, no astroagent.yaml, a flaky fetch against a real loopback server — watched with `astroagent watch`,
improved with `labtech improve --target`, watched again, and the change judged and kept.

Every step is a real subprocess of the installed command line, in the project folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from _labtech_ws import FlakyArchive

NET = '''\
"""Fetch spectra from the survey's archive."""

import urllib.request


def fetch_spectrum(url):
    """The raw bytes of one spectrum."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def mean_flux(raw):
    return sum(raw) / len(raw)
'''

TESTS = '''\
from spectra.net import fetch_spectrum, mean_flux


def test_fetch_reads_a_local_file(tmp_path):
    path = tmp_path / "s.bin"
    path.write_bytes(b"\\x01\\x03")
    assert fetch_spectrum(path.as_uri()) == b"\\x01\\x03"
    assert mean_flux(b"\\x01\\x03") == 2
'''

SURVEY = '''\
"""The user's own script: fetch N spectra, count the ones that arrived."""
import sys

from spectra.net import fetch_spectrum

ok = 0
for _ in range(int(sys.argv[2])):
    try:
        fetch_spectrum(sys.argv[1])
        ok += 1
    except OSError:
        pass
print(ok)
'''


def _project(root: Path, package: str) -> Path:
    for rel, text in {"pyproject.toml": '[project]\nname = "spectra"\nversion = "0.1"\n',
                      f"{package}/__init__.py": "", f"{package}/net.py": NET, "tests/test_net.py": TESTS,
                      "survey.py": SURVEY}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _astroagent(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASTROAGENT_")}
    env["PYTHONPATH"] = str(project / "src") if (project / "src").is_dir() else str(project)   # as installed
    return subprocess.run([sys.executable, "-m", "astroagent", *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=120)


def _survey(project: Path, url: str, n: int) -> int:
    watched = _astroagent(project, "watch", "--", sys.executable, "survey.py", url, str(n))
    assert watched.returncode == 0, watched.stderr
    return int(watched.stdout)


@pytest.mark.parametrize("package", ["spectra", "src/spectra"], ids=["flat", "src-layout"])
def test_a_users_project_is_healed_from_watch_to_a_kept_change(tmp_path: Path, package: str) -> None:
    project = _project(tmp_path / "spectra-project", package)
    before_files = sorted(p.relative_to(project).as_posix() for p in project.rglob("*"))
    with FlakyArchive(reset_rate=0.35, seed=3) as archive:
        before = _survey(project, archive.url, 30)
        improved = _astroagent(project, "labtech", "improve", "--target", f"{package}/net.py", "--json")
        assert improved.returncode == 0, improved.stderr
        assert f"astroagent: workspace {project} (the nearest folder above the targets with pyproject.toml" \
            in improved.stderr
        out = orjson.loads(improved.stdout)
        [change] = [i for i in out["improvements_made"] if i["status"] == "applied"]
        assert change["fix"] == "add_retry_mechanism" and change["target"] == f"{package}/net.py::fetch_spectrum"
        assert change["agent"] == "spectra" and "adds a dependency: tenacity" in change["reason"]
        assert "tenacity.retry" in (project / package / "net.py").read_text()
        after = _survey(project, archive.url, 30)
        analysed = orjson.loads(_astroagent(project, "labtech", "analyze", "--json").stdout)
        versions = analysed["code_versions"]          # the new code apart from the old
        assert versions["current"]["executions"] == 30 and versions["current"]["failed"] == 30 - after
        assert versions["older"]["executions"] == 30 and versions["older"]["failed"] == 30 - before
        judged = _astroagent(project, "labtech", "improve", "--target", f"{package}/net.py", "--json")
    assert judged.returncode == 0, judged.stderr
    [verdict] = orjson.loads(judged.stdout)["verdicts"]
    assert verdict["id"] == change["id"] and verdict["verdict"] == "kept", verdict
    history = orjson.loads(_astroagent(project, "labtech", "history", "--json").stdout)["changes"]
    [kept] = [c for c in history if c["id"] == change["id"]]
    assert kept["verdict"] == "kept" and kept["agent"] == "spectra"
    report = Path(orjson.loads(judged.stdout)["report_path"]).read_text()
    assert "agent **spectra**" in report
    # nothing of the user's project changed but the one file, and what astroagent writes lives in data/
    after_files = sorted(p.relative_to(project).as_posix() for p in project.rglob("*")
                         if not p.relative_to(project).as_posix().startswith(("data", "__pycache__"))
                         and "__pycache__" not in p.parts)
    assert after_files == [f for f in before_files if "__pycache__" not in f]
    print(f"\nheal a project: {before}/30 fetched before, {after}/30 after; {change['id']} kept")
    assert before <= 24 and after >= 29

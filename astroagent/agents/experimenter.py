"""The Experimenter: runs one research project on real data and writes its results.

Stages, each a telemetry span: ``load_project`` (resolve the project, load the research
code) → ``fetch_data`` → ``analysis`` → ``result_validation`` → ``write_results``.
With a workspace, the code that fetches and analyses is the workspace's own ``experimenter``
package (the code the Lab Technician improves); without one, the packaged template, read-only.
"""

from __future__ import annotations

import importlib.util
import math
import os
import secrets
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
from pydantic import ValidationError

from astroagent.agents.common import AgentExecutionContext, BaseAgent
from astroagent.config.loader import first_error
from astroagent.config import AstroAgentConfig
from astroagent.errors import DataError, UsageError
from astroagent.science.projects import AREAS, Project, check_project, plan_projects
from astroagent.telemetry import Telemetry, atomic_write_bytes, package_code_version, utcnow
from astroagent.workspace import template_root

__all__ = ["ExperimenterAgent", "load_research_code", "VERDICTS"]

VERDICTS = ("supported", "refuted", "inconclusive")
_LOAD_LOCK = threading.Lock()


def _under(path: str | None, root: Path) -> bool:
    if not path:
        return False
    try:
        return Path(os.path.realpath(path)).is_relative_to(root)
    except (OSError, ValueError):
        return False


def load_research_code(code_dir: Path, *, write_bytecode: bool = True,
                       code_version: str | None = None) -> ModuleType:
    """Import the ``experimenter`` package found at ``code_dir`` (fresh whenever the folder or
    its code changed since the last load in this process). ``code_version``: the package's
    ``package_code_version`` when the caller already hashed it (saves reading the code twice)."""
    code_dir = Path(os.path.realpath(code_dir))
    name = code_dir.name
    init = code_dir / "__init__.py"
    if not init.is_file():
        raise UsageError(f"no research code at {code_dir} (missing __init__.py); run `astroagent init DIR`")
    version = code_version or package_code_version(code_dir)
    with _LOAD_LOCK:
        current = sys.modules.get(name)
        if (current is not None and _under(getattr(current, "__file__", None), code_dir)
                and getattr(current, "__astroagent_code_version__", None) == version):
            return current
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        importlib.invalidate_caches()
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(code_dir)])
        if spec is None or spec.loader is None:
            raise UsageError(f"cannot import research code from {code_dir}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        saved = sys.dont_write_bytecode
        sys.dont_write_bytecode = saved or not write_bytecode
        try:
            spec.loader.exec_module(module)
        except BaseException:
            for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
                del sys.modules[key]
            raise
        finally:
            sys.dont_write_bytecode = saved
        module.__astroagent_code_version__ = version  # type: ignore[attr-defined]
        return module


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise DataError(f"invalid result: {name} is {value!r}, not a finite number")
    return float(value)


def validate_outcome(outcome: Any) -> dict[str, Any]:
    """The analysis output as plain data; DataError when anything a reader relies on is missing."""
    if not isinstance(outcome, dict):
        raise DataError(f"invalid result: analysis returned {type(outcome).__name__}, not a dict")
    verdict = outcome.get("verdict")
    if verdict not in VERDICTS:
        raise DataError(f"invalid result: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    results = outcome.get("results")
    if not isinstance(results, dict) or not results:
        raise DataError("invalid result: no results")
    clean: dict[str, dict[str, Any]] = {}
    for key, item in results.items():
        if not isinstance(item, dict) or "value" not in item or "error" not in item:
            raise DataError(f"invalid result: {key} lacks a value and an error")
        value = _check_number(f"{key}.value", item["value"])
        error = _check_number(f"{key}.error", item["error"])
        if error < 0:
            raise DataError(f"invalid result: {key}.error is negative ({error})")
        clean[str(key)] = {"value": value, "error": error, "unit": str(item.get("unit", ""))}
    if not isinstance(outcome.get("plot"), dict):
        raise DataError("invalid result: no plot data")
    return {"verdict": verdict, "verdict_reason": str(outcome.get("verdict_reason", "")), "results": clean,
            "plot": outcome["plot"]}


def _markdown(project: Project, checked: dict[str, Any], code_version: str, plot_name: str) -> str:
    lines = [f"# {project.kind.replace('_', ' ')} — {project.id}", "",
             f"**Area:** {project.area}  ", f"**Hypothesis:** {project.hypothesis}  ",
             f"**Verdict:** {checked['verdict']} — {checked['verdict_reason']}", "",
             "| quantity | value | uncertainty | unit |", "|---|---|---|---|"]
    for key, item in checked["results"].items():
        lines.append(f"| {key} | {item['value']:.6g} | {item['error']:.2g} | {item['unit']} |")
    params = ", ".join(f"{k}={v}" for k, v in project.params.items())
    lines += ["", f"Parameters: {params}", "", f"![plot]({plot_name})", "",
              f"Code version {code_version}. Data credits: astroagent/science/data/SOURCES.md.", ""]
    return "\n".join(lines)


def write_results(out_root: Path, project: Project, checked: dict[str, Any], *, code_version: str,
                  execution_id: str) -> Path:
    """Write results.json, results.md and plot.png into ``out_root/<project id>`` all at once:
    built in a temporary folder, then renamed into place (a failure leaves nothing)."""
    from astroagent.science.plots import render_plot

    out_root.mkdir(parents=True, exist_ok=True)
    final = out_root / project.id
    staging = Path(tempfile.mkdtemp(prefix=f".{project.id}.", suffix=".tmp", dir=out_root))
    try:
        render_plot(project.kind, checked["plot"], staging / "plot.png")
        document = {"project": project.model_dump(mode="json"), "verdict": checked["verdict"],
                    "verdict_reason": checked["verdict_reason"], "results": checked["results"],
                    "code_version": code_version, "execution_id": execution_id,
                    "created": utcnow().isoformat(), "files": ["results.json", "results.md", "plot.png"]}
        atomic_write_bytes(staging / "results.json",
                           orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
        atomic_write_bytes(staging / "results.md",
                           _markdown(project, checked, code_version, "plot.png").encode("utf-8"))
        old = None
        if final.exists():
            old = out_root / f".{project.id}.{secrets.token_hex(4)}.old"
            os.replace(final, old)
        os.replace(staging, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


class ExperimenterAgent(BaseAgent):
    """Runs one project per ``run()``; see the module docstring for the stages."""

    name = "experimenter"

    def __init__(self, config: AstroAgentConfig | None = None, *, data_dir: Path | None = None,
                 workspace: Path | None = None):
        super().__init__(config, data_dir=data_dir, workspace=workspace)
        package = self.config.experimenter.code_package
        if self.workspace is not None and (self.workspace / package / "__init__.py").is_file():
            self.code_dir = (self.workspace / package).resolve()
            self.location_base = self.workspace
            self.read_only = False
        else:
            self.code_dir = (template_root() / "experimenter").resolve()
            self.location_base = template_root().resolve()
            self.read_only = True

    def _project(self, data: dict[str, Any]) -> Project:
        raw = data.get("project")
        if raw is not None:
            if isinstance(raw, Project):
                return check_project(raw)
            if not isinstance(raw, dict):
                raise UsageError(f"project must be a mapping, got {type(raw).__name__}")
            try:
                project = Project.model_validate(raw)
            except ValidationError as exc:
                loc, what = first_error(exc)
                raise UsageError(f"bad project: {'.'.join(loc) or 'project'}: {what}") from None
            return check_project(project)
        area = data.get("area") or self.config.experimenter.default_area
        if area not in AREAS:
            raise UsageError(f"unknown research area {area!r}; known: {', '.join(sorted(AREAS))}")
        seed = data.get("seed")
        if seed is None:
            seed = secrets.randbelow(1_000_000)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise UsageError(f"seed must be an integer, got {seed!r}")
        return plan_projects([area], 1, seed)[0]

    def execute(self, context: AgentExecutionContext) -> dict[str, Any]:
        data = dict(context.input_data or {})
        archive_url = data.get("archive_url", self.config.experimenter.archive_url) or None
        try:
            project: Project | None = self._project(data)
            problem: Exception | None = None
        except Exception as exc:  # reported inside the execution so the logs carry it
            project, problem = None, exc
        code_version = package_code_version(self.code_dir)
        telemetry = Telemetry(self.name, self.data_dir, code_roots=[self.code_dir],
                              location_base=self.location_base)
        info = {"project_id": project.id if project else None, "area": project.area if project else
                data.get("area"), "kind": project.kind if project else None, "state": context.state_name,
                "archive_url": archive_url}
        output: dict[str, Any] = {"code_version": code_version, **{k: info[k] for k in ("project_id", "area", "kind")}}
        try:
            with telemetry.execution(context.execution_id, code_version=code_version, **info) as run:
                with run.span("load_project"):
                    if problem is not None:
                        raise problem
                    assert project is not None
                    code = load_research_code(self.code_dir, write_bytecode=not self.read_only,
                                              code_version=code_version)
                    plain = project.model_dump(mode="json")
                with run.span("fetch_data"):
                    inputs = code.fetch_inputs(plain, archive_url)
                with run.span("analysis"):
                    outcome = code.analyse(plain, inputs)
                with run.span("result_validation"):
                    checked = validate_outcome(outcome)
                with run.span("write_results"):
                    out_dir = write_results(self.data_dir / "projects", project, checked,
                                            code_version=code_version, execution_id=context.execution_id)
                run.event("experiment_result", project_id=project.id, verdict=checked["verdict"],
                          output_dir=str(out_dir))
        except Exception as exc:
            return {"success": False, "error_message": f"{type(exc).__name__}: {exc}", **output}
        finally:
            telemetry.close()
        return {**output, "hypothesis": project.hypothesis, "params": project.params,
                "verdict": checked["verdict"], "verdict_reason": checked["verdict_reason"],
                "results": checked["results"], "output_dir": str(out_dir)}

"""A fast Experimenter for the soak: the real workspace code fetches one small dataset from the
faulty archive under the real telemetry; no science afterwards, so a cycle takes milliseconds."""

from __future__ import annotations

from typing import Any

from astroagent.agents.common import AgentExecutionContext
from astroagent.agents.experimenter import ExperimenterAgent, load_research_code
from astroagent.telemetry import Telemetry, package_code_version

DATASET = "riess2011_cepheids"   # 39 KB


class FastExperimenter(ExperimenterAgent):
    """Same worker protocol, telemetry and improvable ``experimenter/fetch.py`` as the real one."""

    def execute(self, context: AgentExecutionContext) -> dict[str, Any]:
        archive_url = (context.input_data or {}).get("archive_url")
        version = package_code_version(self.code_dir)
        telemetry = Telemetry(self.name, self.data_dir, code_roots=[self.code_dir], location_base=self.location_base)
        output: dict[str, Any] = {"code_version": version}
        try:
            with telemetry.execution(context.execution_id, code_version=version) as run:
                with run.span("load_project"):
                    code = load_research_code(self.code_dir, write_bytecode=not self.read_only)
                with run.span("fetch_data"):
                    raw = code.fetch_dataset(archive_url, DATASET)
                if len(raw) < 1000:
                    run.fail(f"short dataset: {len(raw)} bytes", "DataError")
        except Exception as exc:
            return {"success": False, "error_message": f"{type(exc).__name__}: {exc}", **output}
        finally:
            telemetry.close()
        return {**output, "bytes": len(raw), "verdict": "inconclusive"}


def fast_planner(areas, n, seed):  # noqa: ANN001 - the pipeline's planner signature
    """``n`` trivial projects (the pipeline only needs an id and an area)."""
    return [{"id": f"soak-{seed}-{i}", "area": areas[i % len(areas)], "kind": "fetch"} for i in range(n)]

"""The seed's manual example, runnable: ``python test_lab_technician.py`` inside a workspace.

Not collected by pytest (testpaths = tests); ``tests/test_lab_technician_agent.py`` runs it.
"""

from astroagent.agents import create_agent
from astroagent.agents.common import AgentExecutionContext


def main() -> int:
    lab_tech = create_agent('lab_technician')
    context = AgentExecutionContext(agent_name='lab_technician', state_name='manual_analysis',
                                    input_data={'force_analysis': True})
    result = lab_tech.run(context)
    print(f"success: {result.success}")
    if not result.success:
        print(f"error: {result.error_message}")
        return 1
    out = result.output_data
    print(f"success rate: {out['success_rate']:.1%}  report: {out['report_path']}")
    for improvement in out['improvements_made']:
        print(f"  {improvement['id']}  {improvement['status']:<11} {improvement['type']:<22} {improvement['target']}")
        print(f"      {improvement['reason']}")
    for note in out['notes']:
        print(f"  note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

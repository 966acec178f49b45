"""The Experimenter's research code: fetch a project's data, run its analysis.

The agent calls ``fetch_inputs(project, base_url)`` then ``analyse(project, inputs)``;
``project`` is a plain dict with ``kind`` and ``params``.
"""

from . import exoplanets, stellar
from .fetch import fetch_dataset, load_dataset

EXPERIMENTS = {
    "transit_search": exoplanets.transit_search,
    "radius_valley": exoplanets.radius_valley,
    "mass_radius": exoplanets.mass_radius,
    "mass_luminosity": stellar.mass_luminosity,
    "hr_diagram": stellar.hr_diagram,
    "leavitt_law": stellar.leavitt_law,
}


def fetch_inputs(project, base_url):
    """The data the project needs, parsed."""
    return {"data": load_dataset(base_url, project["params"]["dataset_id"])}


def analyse(project, inputs):
    """Run the project's experiment: results with uncertainties, a verdict, the plot's data."""
    experiment = EXPERIMENTS[project["kind"]]
    return experiment(project["params"], inputs["data"])


__all__ = ["EXPERIMENTS", "fetch_inputs", "analyse", "fetch_dataset", "load_dataset"]

"""The project planner: varied, reproducible, strict about areas."""

from __future__ import annotations

import pytest

from astroagent.errors import UsageError
from astroagent.science.projects import AREAS, Project, check_project, make_project, plan_projects


def test_same_seed_same_plan_other_seed_other_plan() -> None:
    first = plan_projects(["exoplanets", "stellar_evolution"], 20, seed=11)
    assert first == plan_projects(["exoplanets", "stellar_evolution"], 20, seed=11)
    assert [p.id for p in first] != [p.id for p in plan_projects(["exoplanets", "stellar_evolution"], 20, seed=12)]
    assert len({p.id for p in first}) == 20


def test_plans_are_varied_and_balanced() -> None:
    projects = plan_projects(["exoplanets", "stellar_evolution"], 120, seed=3)
    assert {p.kind for p in projects} == {k for kinds in AREAS.values() for k in kinds}
    assert sum(p.area == "exoplanets" for p in projects) == 60
    transit = [p for p in projects if p.kind == "transit_search"]
    assert len({(p.params["dataset_id"], p.params["detrend_window"]) for p in transit}) > 3
    assert all(p.hypothesis for p in projects)


def test_rare_variant_is_rare() -> None:
    projects = [p for s in range(40) for p in plan_projects(["exoplanets", "stellar_evolution"], 60, seed=s)]
    rare = [p for p in projects if p.params.get("min_period") == 100.0]
    assert 0 < len(rare) / len(projects) <= 0.03


def test_unknown_area_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match="unknown research area 'cosmology'; known: exoplanets, stellar_evolution"):
        plan_projects(["cosmology"], 1, seed=0)
    with pytest.raises(UsageError, match="not in area"):
        check_project(Project(id="x", area="exoplanets", kind="leavitt_law", params={}, hypothesis="h"))
    with pytest.raises(UsageError, match="safe folder name"):
        check_project(make_project("hr_diagram", {"dataset_id": "hipparcos_hr", "min_parallax_snr": 10.0,
                                                  "bv_split": 0.8}, project_id="../evil"))


def test_projects_roundtrip_as_json() -> None:
    project = plan_projects(["stellar_evolution"], 1, seed=5)[0]
    assert Project.model_validate_json(project.model_dump_json()) == project


def test_missing_parameter_is_a_clear_usage_error() -> None:
    with pytest.raises(UsageError, match="mass_luminosity project is missing parameter\\(s\\) mass_range, min_logg"):
        make_project("mass_luminosity", {"dataset_id": "debcat"})
    with pytest.raises(UsageError, match="transit_search project is missing parameter\\(s\\) catalog_period"):
        make_project("transit_search", {"dataset_id": "kepler1_q1", "planet": "TrES-2 b", "detrend_window": 0.5,
                                        "min_period": 0.5, "max_period": 5.0})
    bare = Project(id="x", area="stellar_evolution", kind="hr_diagram", params={"dataset_id": "hipparcos_hr"},
                   hypothesis="h")
    with pytest.raises(UsageError, match="missing parameter\\(s\\) bv_split, min_parallax_snr"):
        check_project(bare)


def test_leavitt_projects_sometimes_fit_the_metallicity_term() -> None:
    leavitt = [p for s in range(20) for p in plan_projects(["stellar_evolution"], 30, seed=s)
               if p.kind == "leavitt_law"]
    with_z = [p for p in leavitt if p.params["metallicity"]]
    assert 0.1 < len(with_z) / len(leavitt) < 0.4
    assert all("metallicity term" in p.hypothesis for p in with_z)
    # independent of the cuts: the plain fit (all galaxies, no period cut, no clipping) is planned both ways
    plain = {p.params["metallicity"] for p in leavitt
             if p.params["galaxies"] is None and p.params["min_period"] == 0.0 and p.params["clip_sigma"] is None}
    assert plain == {True, False}
    # projects written before the parameter existed still pass the checks
    old = {"dataset_id": "riess2011_cepheids", "galaxies": None, "min_period": 0.0, "max_period": 250.0,
           "clip_sigma": None}
    assert check_project(make_project("leavitt_law", old)).params == old

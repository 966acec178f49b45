"""The project planner: a research area becomes varied, reproducible research projects.

Each project is one experiment kind with its own target, cuts and parameters, and the
hypothesis it tests. ``plan_projects(areas, count, seed)`` gives the same list for the same
arguments, in any process.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from astroagent.errors import UsageError

__all__ = ["Project", "AREAS", "KINDS", "TRANSIT_TARGETS", "ML_RANGES", "plan_projects", "make_project",
           "check_project"]

AREAS: dict[str, tuple[str, ...]] = {
    "exoplanets": ("transit_search", "radius_valley", "mass_radius"),
    "stellar_evolution": ("mass_luminosity", "hr_diagram", "leavitt_law"),
}
KINDS = {kind: area for area, kinds in AREAS.items() for kind in kinds}

# dataset id -> (planet, catalogue period [d]) from the NASA Exoplanet Archive composite table
TRANSIT_TARGETS: dict[str, tuple[str, float]] = {
    "kepler1_q1": ("TrES-2 b", 2.47063),
    "kepler10_q1": ("Kepler-10 b", 0.8374907),
    "kepler10_tess_s14": ("Kepler-10 b", 0.8374907),
}
# Eker et al. 2015 (AJ 149, 131) mass ranges [M☉] and their exponents α ± σ
ML_RANGES: dict[str, tuple[float, float, float, float]] = {
    "low": (0.72, 1.05, 4.841, 0.211),
    "intermediate": (1.05, 2.40, 4.329, 0.087),
    "high": (2.40, 7.00, 3.962, 0.112),
    "very_high": (7.00, 32.0, 2.726, 0.143),
}
PERSSON_2004_SLOPE = (-3.234, 0.042)  # LMC Cepheids, H band (Persson et al. 2004, AJ 128, 2239)
CEPHEID_GALAXIES = (1309, 3021, 3370, 3982, 4038, 4258, 4536, 4639, 5584)
# parameters an experiment reads with a default, so projects made before they existed still run
OPTIONAL_PARAMS: dict[str, set[str]] = {"leavitt_law": {"metallicity"}}


class Project(BaseModel):
    """One research project; frozen, JSON-able, the same everywhere it travels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    area: str
    kind: str
    params: dict[str, Any]
    hypothesis: str


def _hypothesis(kind: str, p: dict[str, Any]) -> str:
    if kind == "transit_search":
        planet, period = TRANSIT_TARGETS[p["dataset_id"]]
        return (f"A box-least-squares search of {p['dataset_id']} recovers {planet} at its catalogue period "
                f"{period} d to within 0.1 %.")
    if kind == "radius_valley":
        return (f"Small planets with P < {p['max_period']:g} d show a radius valley between 1.5 and 2.0 R⊕ "
                "(Fulton et al. 2017).")
    if kind == "mass_radius":
        return (f"Planets smaller than {p['max_radius']:g} R⊕ follow M ∝ R^3.58 like rocky worlds "
                "(Chen & Kipping 2017, Terran: R ∝ M^0.279).")
    if kind == "mass_luminosity":
        lo, hi, alpha, err = ML_RANGES[p["mass_range"]]
        return (f"Main-sequence stars of {lo:g}–{hi:g} M☉ follow L ∝ M^α with α = {alpha} ± {err} "
                "(Eker et al. 2015).")
    if kind == "hr_diagram":
        return ("Nearby Hipparcos stars split into a main sequence and a giant branch whose red clump lies "
                "near M ≈ +0.8 mag, about 5 mag above the K dwarfs of the same colour.")
    if kind == "leavitt_law":
        term = " with a metallicity term as in Riess et al. 2011" if p.get("metallicity") else ""
        return ("Cepheids in the SN Ia hosts follow the LMC near-infrared period–luminosity slope "
                f"−{abs(PERSSON_2004_SLOPE[0]):.3f} ± {PERSSON_2004_SLOPE[1]} (Persson et al. 2004){term}.")
    raise UsageError(f"unknown experiment kind {kind!r}; known: {', '.join(sorted(KINDS))}")


def _params(kind: str, rng: random.Random, side: random.Random | None = None) -> dict[str, Any]:
    """Parameters drawn from ``rng``; ``side`` draws what was added later (so every seed's plan kept its
    earlier draws), one generator per project."""
    if kind == "transit_search":
        dataset = rng.choice(["kepler1_q1", "kepler1_q1", "kepler10_q1", "kepler10_q1", "kepler10_tess_s14"])
        planet, period = TRANSIT_TARGETS[dataset]
        return {"dataset_id": dataset, "planet": planet, "catalog_period": period,
                "detrend_window": rng.choice([0.5, 0.75, 1.0]), "min_period": 0.5,
                "max_period": rng.choice([5.0, 10.0])}
    if kind == "radius_valley":
        return {"dataset_id": "exoplanet_catalog", "max_period": rng.choice([30.0, 50.0, 100.0, 300.0]),
                "bandwidth": rng.choice([0.025, 0.03, 0.035]), "n_boot": 60}
    if kind == "mass_radius":
        return {"dataset_id": "exoplanet_catalog", "max_radius": rng.choice([1.5, 1.6, 1.8]),
                "max_mass_rel_err": rng.choice([0.25, 0.35, 0.5])}
    if kind == "mass_luminosity":
        return {"dataset_id": "debcat",
                "mass_range": rng.choice(["intermediate", "intermediate", "high", "low", "very_high"]),
                "min_logg": rng.choice([3.8, 3.9, 4.0])}
    if kind == "hr_diagram":
        return {"dataset_id": "hipparcos_hr", "min_parallax_snr": rng.choice([10.0, 15.0, 20.0]),
                "bv_split": rng.choice([0.7, 0.8, 0.9])}
    if kind == "leavitt_law":
        galaxies = None if rng.random() < 0.6 else sorted(rng.sample(CEPHEID_GALAXIES, rng.choice([3, 5])))
        long_only = rng.random() < 0.08  # the rare "long-period Cepheids only" variant
        params = {"dataset_id": "riess2011_cepheids", "galaxies": galaxies,
                  "min_period": 100.0 if long_only else rng.choice([0.0, 10.0, 20.0]),
                  "max_period": 250.0, "clip_sigma": rng.choice([None, 3.0, 2.5])}
        # R11's metallicity term Z_W·Δlog[O/H] in a quarter of the fits, independent of the cuts above
        params["metallicity"] = (side or random.Random(0)).random() < 0.25
        return params
    raise UsageError(f"unknown experiment kind {kind!r}; known: {', '.join(sorted(KINDS))}")


def _project_id(kind: str, params: dict[str, Any], seed: int, index: int) -> str:
    digest = hashlib.blake2b(orjson.dumps([kind, params, seed, index], option=orjson.OPT_SORT_KEYS),
                             digest_size=4).hexdigest()
    return f"{kind}-s{seed}-{index:03d}-{digest}"


def _check_params(kind: str, params: dict[str, Any]) -> None:
    """UsageError naming the parameters a project of this kind lacks (instead of a bare KeyError later)."""
    missing = sorted(set(_params(kind, random.Random(0))) - OPTIONAL_PARAMS.get(kind, set()) - set(params))
    if missing:
        raise UsageError(f"{kind} project is missing parameter(s) {', '.join(missing)}")


def make_project(kind: str, params: dict[str, Any], *, project_id: str | None = None) -> Project:
    """A project of a given kind with explicit parameters."""
    if kind not in KINDS:
        raise UsageError(f"unknown experiment kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    _check_params(kind, params)
    pid = project_id or _project_id(kind, params, 0, 0)
    return Project(id=pid, area=KINDS[kind], kind=kind, params=dict(params), hypothesis=_hypothesis(kind, params))


def check_project(project: Project) -> Project:
    """UsageError when the area or kind is unknown, they do not belong together, or parameters are missing."""
    if project.area not in AREAS:
        raise UsageError(f"unknown research area {project.area!r}; known: {', '.join(sorted(AREAS))}")
    if project.kind not in AREAS[project.area]:
        raise UsageError(f"experiment kind {project.kind!r} is not in area {project.area!r}; "
                         f"known: {', '.join(AREAS[project.area])}")
    _check_params(project.kind, project.params)
    if not project.id or any(c in project.id for c in "/\\\0") or project.id.startswith("."):
        raise UsageError(f"project id {project.id!r} is not a safe folder name")
    return project


def plan_projects(areas: Sequence[str], count: int, seed: int) -> list[Project]:
    """``count`` projects spread round-robin over ``areas``, reproducible from ``seed``."""
    if isinstance(areas, str):
        areas = [areas]
    unknown = [a for a in areas if a not in AREAS]
    if unknown or not areas:
        raise UsageError(f"unknown research area {unknown[0] if unknown else '(none given)'!r}; "
                         f"known: {', '.join(sorted(AREAS))}")
    if count < 0:
        raise UsageError(f"project count must be >= 0, got {count}")
    rng = random.Random(seed)
    projects = []
    for index in range(count):
        area = areas[index % len(areas)]
        kind = rng.choice(AREAS[area])
        params = _params(kind, rng, random.Random(f"{seed}:{index}"))
        projects.append(Project(id=_project_id(kind, params, seed, index), area=area, kind=kind, params=params,
                                hypothesis=_hypothesis(kind, params)))
    return projects

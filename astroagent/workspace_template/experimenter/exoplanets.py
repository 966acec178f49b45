"""Exoplanet experiments: transit search, radius valley, mass-radius relation."""

import numpy as np

from astroagent.science import populations, transits
from astroagent.telemetry import instrument

# (Rp/R*)^2 from the NASA Exoplanet Archive composite table: pl_rade / (109.076 * st_rad)
CATALOG_DEPTH = {"TrES-2 b": (15.24424 / (109.076 * 1.12)) ** 2, "Kepler-10 b": (1.47 / (109.076 * 1.065)) ** 2}
CHEN_KIPPING_TERRAN = 1.0 / 0.279  # M ∝ R^3.58 (Chen & Kipping 2017, ApJ 834, 17)


def measurement(value, error, unit):
    return {"value": float(value), "error": float(error), "unit": unit}


def transit_search(params, lightcurve):
    rel_flux = transits.detrend(lightcurve.time, lightcurve.flux, params["detrend_window"])
    rel_err = lightcurve.flux_err / lightcurve.flux
    found = transits.bls_search(lightcurve.time, rel_flux, rel_err, min_period=params["min_period"],
                                max_period=params["max_period"])
    catalog_period = params["catalog_period"]
    offset = (found.period - catalog_period) / catalog_period
    expected_depth = CATALOG_DEPTH[params["planet"]]
    recovered = abs(offset) < 0.001
    if recovered:
        verdict = "supported"
        reason = f"BLS period {found.period:.5f} d is {offset * 100:+.3f} % from the catalogue"
    elif found.snr < 7.0:
        verdict = "inconclusive"
        reason = f"no significant transit (strongest peak {found.period:.5f} d, S/N {found.snr:.1f} < 7)"
    else:
        verdict = "refuted"
        reason = f"the strongest BLS peak ({found.period:.5f} d) is {offset * 100:+.2f} % from the catalogue period"
    results = {
        "period": measurement(found.period, found.period_err, "d"),
        "depth": measurement(found.depth * 1e6, found.depth_err * 1e6, "ppm"),
        "duration": measurement(found.duration * 24, 0.0, "h"),
        "period_offset": measurement(offset * 100, found.period_err / catalog_period * 100, "%"),
        "depth_ratio_to_catalog": measurement(found.depth / expected_depth, found.depth_err / expected_depth, ""),
        "snr": measurement(found.snr, 0.0, ""),
    }
    plot = {"target": params["planet"], "dataset_id": lightcurve.dataset_id, "periods": found.periods,
            "power": found.power, "period": found.period, "catalog_period": catalog_period,
            "time": lightcurve.time, "rel_flux": rel_flux, "t0": found.t0, "duration": found.duration,
            "depth": found.depth}
    return {"results": results, "verdict": verdict, "verdict_reason": reason, "plot": plot}


@instrument(digest_args=True)
def bootstrap_valley(radii, bandwidth, n_boot):
    """Resample the planets with replacement and locate the valley in each resample."""
    rng = np.random.default_rng()
    radii = list(radii)
    n = len(radii)
    positions = []
    for _ in range(n_boot):
        sample = [radii[int(rng.random() * n)] for _ in range(n)]
        positions.append(populations.valley_position(np.array(sample), bandwidth=bandwidth))
    return positions


def radius_valley(params, catalog):
    radii = populations.small_planets(catalog, max_period=params["max_period"])
    best = populations.valley_position(radii, bandwidth=params["bandwidth"])
    boot = np.array(bootstrap_valley(tuple(radii), params["bandwidth"], params["n_boot"]))
    error = float(np.std(boot))
    interior = bool(1.45 < best < 2.35)
    if interior and 1.5 - error <= best <= 2.0 + error:
        verdict, reason = "supported", f"valley at {best:.2f} ± {error:.2f} R⊕"
    elif interior:
        verdict, reason = "refuted", f"valley at {best:.2f} ± {error:.2f} R⊕, outside 1.5–2.0 R⊕"
    else:
        verdict, reason = "inconclusive", "no density minimum between the two planet populations"
    results = {"valley_radius": measurement(best, error, "R_earth"),
               "n_planets": measurement(len(radii), 0.0, "")}
    plot = {"radii": radii, "valley": best, "valley_err": error, "max_period": params["max_period"]}
    return {"results": results, "verdict": verdict, "verdict_reason": reason, "plot": plot}


def mass_radius(params, catalog):
    r, r_err, m, m_err = populations.planets_with_masses(catalog, max_radius=params["max_radius"],
                                                         max_mass_rel_err=params["max_mass_rel_err"])
    fit = populations.fit_power_law(r, m, m_err)
    z = (fit.exponent - CHEN_KIPPING_TERRAN) / fit.exponent_err
    verdict = "supported" if abs(z) < 2 else "refuted"
    reason = f"exponent {fit.exponent:.2f} ± {fit.exponent_err:.2f} is {z:+.1f} sigma from {CHEN_KIPPING_TERRAN:.2f}"
    results = {"exponent": measurement(fit.exponent, fit.exponent_err, ""),
               "log_amplitude": measurement(fit.log_amplitude, fit.log_amplitude_err, "dex M_earth"),
               "reduced_chi2": measurement(fit.reduced_chi2, 0.0, ""),
               "n_planets": measurement(fit.n, 0.0, "")}
    plot = {"radius": r, "mass": m, "mass_err": m_err, "exponent": fit.exponent, "exponent_err": fit.exponent_err,
            "log_amplitude": fit.log_amplitude, "reference": CHEN_KIPPING_TERRAN, "max_radius": params["max_radius"]}
    return {"results": results, "verdict": verdict, "verdict_reason": reason, "plot": plot}

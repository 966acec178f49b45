"""Stellar experiments: mass-luminosity relation, HR diagram, Cepheid period-luminosity law."""

import numpy as np

from astroagent.science import stellar
# Eker et al. (2015) mass ranges with their exponents; the LMC Cepheid slope (Persson et al. 2004)
from astroagent.science.projects import ML_RANGES as EKER_2015, PERSSON_2004_SLOPE

from .models import zams_grid

ZAMS_RANGE = (0.1, 30.0, 15000)


def measurement(value, error, unit):
    return {"value": float(value), "error": float(error), "unit": unit}


def mass_luminosity(params, debcat):
    lo, hi, alpha_ref, alpha_ref_err = EKER_2015[params["mass_range"]]
    stars = stellar.debcat_stars(debcat, min_logg=params["min_logg"])
    fit, sel = stellar.mass_luminosity(stars, m_min=lo, m_max=hi)
    zams = zams_grid(*ZAMS_RANGE)
    inside = [row for row in zams if lo < 10 ** row[0] <= hi]
    zams_fit = stellar.fit_line(np.array([r[0] for r in inside]), np.array([r[1] for r in inside]))
    combined = (fit.slope_err ** 2 + alpha_ref_err ** 2) ** 0.5
    z = (fit.slope - alpha_ref) / combined
    verdict = "supported" if abs(z) < 2 else "refuted"
    reason = f"alpha = {fit.slope:.2f} ± {fit.slope_err:.2f}, {z:+.1f} sigma from Eker et al. 2015 ({alpha_ref})"
    results = {"alpha": measurement(fit.slope, fit.slope_err, ""),
               "log_l_at_1_msun": measurement(fit.intercept, fit.intercept_err, "dex L_sun"),
               "zams_alpha": measurement(zams_fit.slope, zams_fit.slope_err, ""),
               "n_stars": measurement(fit.n, 0.0, "")}
    plot = {"logm_all": stars["logm"], "logl_all": stars["logl"], "logm": stars["logm"][sel],
            "logl": stars["logl"][sel], "alpha": fit.slope, "alpha_err": fit.slope_err, "intercept": fit.intercept,
            "zams_logm": [r[0] for r in zams[::50]], "zams_logl": [r[1] for r in zams[::50]]}
    return {"results": results, "verdict": verdict, "verdict_reason": reason, "plot": plot}


def hr_diagram(params, hipparcos):
    stars = stellar.absolute_magnitudes(hipparcos, min_parallax_snr=params["min_parallax_snr"])
    b_v, mag = stars["b_v"], stars["abs_mag"]
    giant = stellar.split_hr(b_v, mag, bv_split=params["bv_split"])
    ms = ~giant & (b_v > 0.3) & (b_v < 1.2)
    ms_fit = stellar.fit_line(b_v[ms], mag[ms])
    clump = giant & (b_v > 0.9) & (b_v < 1.2) & (mag > -0.5) & (mag < 2.0)
    clump_mag = float(np.median(mag[clump]))
    clump_err = float(1.2533 * np.std(mag[clump]) / np.sqrt(clump.sum()))
    dwarfs = ~giant & (b_v > 0.9) & (b_v < 1.2)
    gap = float(np.median(mag[dwarfs])) - clump_mag
    zams = zams_grid(*ZAMS_RANGE)
    zams_bv = [r[3] for r in zams if -0.3 < r[3] < 1.6]
    zams_mv = [r[4] for r in zams if -0.3 < r[3] < 1.6]
    offset = float(np.median(mag[ms] - np.interp(b_v[ms], zams_bv[::-1], zams_mv[::-1])))
    supported = abs(clump_mag - 0.8) < 0.5 and gap > 4.0
    verdict = "supported" if supported else "refuted"
    reason = f"red clump at M = {clump_mag:.2f} ± {clump_err:.2f}, {gap:.1f} mag above the dwarfs of the same colour"
    results = {"red_clump_abs_mag": measurement(clump_mag, clump_err, "mag"),
               "giant_dwarf_gap": measurement(gap, clump_err, "mag"),
               "ms_slope": measurement(ms_fit.slope, ms_fit.slope_err, "mag/mag"),
               "ms_offset_from_zams": measurement(offset, 0.0, "mag"),
               "giant_fraction": measurement(giant.mean(), np.sqrt(giant.mean() * (1 - giant.mean()) / len(giant)), ""),
               "n_stars": measurement(len(b_v), 0.0, "")}
    plot = {"b_v": b_v, "abs_mag": mag, "giant": giant, "ms_slope": ms_fit.slope, "ms_slope_err": ms_fit.slope_err,
            "ms_intercept": ms_fit.intercept, "zams_bv": zams_bv[::40], "zams_mv": zams_mv[::40]}
    return {"results": results, "verdict": verdict, "verdict_reason": reason, "plot": plot}


def galaxy_mean_log_period(cepheids, galaxies, min_period):
    """Mean log10 period of the selected Cepheids of each galaxy (for the plot's zero points)."""
    means = {}
    for galaxy in galaxies:
        total = 0.0
        count = 0
        for gal, period in zip(cepheids["gal"], cepheids["P"]):
            if int(gal) == galaxy and period >= min_period:
                total += np.log10(period)
                count += 1
        means[galaxy] = total / count
    return means


def leavitt_law(params, cepheids):
    galaxies = tuple(params["galaxies"]) if params["galaxies"] else None
    fit, kept = stellar.leavitt_fit(cepheids, galaxies=galaxies, min_period=params["min_period"],
                                    max_period=params["max_period"], clip_sigma=params["clip_sigma"],
                                    metallicity=params.get("metallicity", False))
    chosen = galaxies or tuple(sorted(set(int(g) for g in cepheids["gal"])))
    mean_logp = galaxy_mean_log_period(cepheids, chosen, params["min_period"])
    ref, ref_err = PERSSON_2004_SLOPE
    combined = (fit.slope_err ** 2 + ref_err ** 2) ** 0.5
    z = (fit.slope - ref) / combined
    verdict = "supported" if abs(z) < 2 else "refuted"
    reason = f"slope {fit.slope:.3f} ± {fit.slope_err:.3f} is {z:+.1f} sigma from the LMC slope {ref}"
    gal = cepheids["gal"].astype(int)
    in_fit = np.isin(gal, list(fit.intercepts))
    sel = in_fit & (cepheids["P"] >= params["min_period"]) & (cepheids["P"] <= params["max_period"])
    zero = np.array([fit.intercepts.get(int(g), 0.0) for g in gal])
    if fit.metallicity_slope is not None:
        zero = zero + fit.metallicity_slope * (cepheids["logO_H"] - fit.metallicity_pivot)
    log_p = np.log10(cepheids["P"])
    results = {"slope": measurement(fit.slope, fit.slope_err, "mag/dex"),
               "reduced_chi2": measurement(fit.reduced_chi2, 0.0, ""),
               "n_cepheids": measurement(fit.n, 0.0, ""),
               "n_clipped": measurement(fit.n_rejected, 0.0, ""),
               "mean_log_period": measurement(float(np.mean(list(mean_logp.values()))), 0.0, "dex")}
    if fit.metallicity_slope is not None:
        results["metallicity_slope"] = measurement(fit.metallicity_slope, fit.metallicity_slope_err, "mag/dex")
    plot = {"log_period": log_p[sel], "shifted_mag": (cepheids["m"] - zero - fit.slope)[sel], "kept": kept[sel],
            "slope": fit.slope, "slope_err": fit.slope_err, "reference": ref}
    return {"results": results, "verdict": verdict, "verdict_reason": reason, "plot": plot}

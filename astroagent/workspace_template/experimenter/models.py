"""Theoretical reference curves the experiments compare the data with."""

import math

from astroagent.telemetry import instrument

# Tout et al. (1996, MNRAS 281, 257) zero-age main sequence fits at Z = 0.02
_L_COEF = (0.39704170, 8.52762600, 0.00025546, 5.43288900, 5.56357900, 0.78866060, 0.00586685)
_R_COEF = (1.71535900, 6.59778800, 10.08855000, 1.01249500, 0.07490166, 0.01077422, 3.08223400,
           17.84778000, 0.00022582)

# Torres (2010, AJ 140, 1158) bolometric corrections BC_V(log Teff), after Flower (1996)
_BC_COOL = (-0.190537291496456e5, 0.155144866764412e5, -0.421278819301717e4, 0.381476328422343e3)
_BC_MID = (-0.370510203809015e5, 0.385672629965804e5, -0.150651486316025e5, 0.261724637119416e4,
           -0.170623810323864e3)
_BC_HOT = (-0.118115450538963e6, 0.137145973583929e6, -0.636233812100225e5, 0.147412923562646e5,
           -0.170587278406872e4, 0.788731721804990e2)


def zams_luminosity(mass):
    a, b, c, d, e, f, g = _L_COEF
    return (a * mass ** 5.5 + b * mass ** 11) / (c + mass ** 3 + d * mass ** 5 + e * mass ** 7
                                                 + f * mass ** 8 + g * mass ** 9.5)


def zams_radius(mass):
    t, i, k, l, m, n, x, o, p = _R_COEF
    return ((t * mass ** 2.5 + i * mass ** 6.5 + k * mass ** 11 + l * mass ** 19 + m * mass ** 19.5)
            / (n + x * mass ** 2 + o * mass ** 8.5 + mass ** 18.5 + p * mass ** 19.5))


def bolometric_correction(log_teff):
    if log_teff < 3.70:
        coef = _BC_COOL
    elif log_teff < 3.90:
        coef = _BC_MID
    else:
        coef = _BC_HOT
    bc = 0.0
    for power, c in enumerate(coef):
        bc += c * log_teff ** power
    return bc


def colour_for_temperature(teff):
    """B-V whose Ballesteros (2012) temperature is teff, by bisection."""
    lo, hi = -0.4, 2.2
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        t_mid = 4600.0 * (1.0 / (0.92 * mid + 1.7) + 1.0 / (0.92 * mid + 0.62))
        if t_mid > teff:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@instrument(digest_args=True)
def zams_grid(m_min, m_max, n_points):
    """The theoretical ZAMS on a mass grid: (log M, log L, log Teff, B-V, M_V) per point."""
    rows = []
    for i in range(n_points):
        log_m = math.log10(m_min) + (math.log10(m_max) - math.log10(m_min)) * i / (n_points - 1)
        mass = 10 ** log_m
        lum = zams_luminosity(mass)
        rad = zams_radius(mass)
        teff = 5772.0 * (lum / rad ** 2) ** 0.25
        log_teff = math.log10(teff)
        b_v = colour_for_temperature(teff)
        m_v = 4.74 - 2.5 * math.log10(lum) - bolometric_correction(log_teff)
        rows.append((log_m, math.log10(lum), log_teff, b_v, m_v))
    return rows

"""Transit search against the literature: BLS after a running-median detrend recovers the planets."""

from __future__ import annotations

import time

import numpy as np
import pytest

from astroagent.errors import DataError
from astroagent.science.datasets import parse_dataset, read_packaged
from astroagent.science.transits import bls_search, detrend


def _search(dataset_id: str, **kw: float):
    lc = parse_dataset(dataset_id, read_packaged(dataset_id))
    rel = detrend(lc.time, lc.flux, 0.75)
    return bls_search(lc.time, rel, lc.flux_err / lc.flux, **kw)


def test_tres2_b_period_within_0_1_percent() -> None:
    # TrES-2 b: P = 2.47063 d (NASA Exoplanet Archive composite; O'Donovan et al. 2006, ApJ 651, L61)
    found = _search("kepler1_q1")
    assert abs(found.period - 2.47063) / 2.47063 < 0.001
    assert abs(found.period - 2.47063) < 3 * found.period_err
    # grazing transit, depth ≈ 1.4 % (SOURCES.md); a box fit sees somewhat less than the V-shaped minimum
    assert 0.009 < found.depth < 0.016
    assert found.snr > 100


def test_kepler10_b_period_within_0_1_percent() -> None:
    # Kepler-10 b: P = 0.837495 d (Batalha et al. 2011, ApJ 729, 27), depth ≈ 150 ppm
    found = _search("kepler10_q1")
    assert abs(found.period - 0.837495) / 0.837495 < 0.001
    assert 100e-6 < found.depth < 220e-6
    assert found.depth / found.depth_err > 10


def test_bls_over_a_kepler_quarter_is_fast() -> None:
    _search("kepler10_q1")  # warm-up (imports, caches)
    start = time.perf_counter()
    _search("kepler1_q1")
    # issue 3 asks < 0.5 s (measured ~0.3 s, docs/benchmarks.md); generous here for a loaded CI machine
    assert time.perf_counter() - start < 3.0


def test_a_flat_light_curve_gives_no_significant_transit() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(0, 30, 0.0204)
    flux = 1000 + rng.normal(0, 1, len(t))
    rel = detrend(t, flux, 0.75)
    found = bls_search(t, rel, np.full(len(t), 1e-3))
    assert found.snr < 7


def test_period_range_must_fit_the_baseline() -> None:
    t = np.linspace(0, 1.0, 200)
    with pytest.raises(DataError, match="period range"):
        bls_search(t, np.zeros_like(t), np.ones_like(t), min_period=0.6)

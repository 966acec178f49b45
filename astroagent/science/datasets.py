"""The datasets the Experimenter studies: ids, packaged files, and strict parsers.

Every parser takes the raw bytes (from the archive or the packaged file) and returns frozen
arrays, or raises DataError naming the dataset and what is wrong (not text, HTML, a missing
column, a bad number, a short or truncated file) — never a half-parsed table.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np

from astroagent.errors import DataError

__all__ = [
    "DatasetInfo",
    "DATASETS",
    "dataset_ids",
    "dataset_info",
    "data_root",
    "dataset_path",
    "read_packaged",
    "parse_dataset",
    "LightCurve",
    "Table",
]


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    filename: str
    description: str
    kind: str          # lightcurve | exoplanets | debcat | hipparcos | cepheids
    min_rows: int      # fewer rows than this means a truncated file
    media_type: str = "text/csv"


DATASETS: dict[str, DatasetInfo] = {d.id: d for d in (
    DatasetInfo("exoplanet_catalog", "pscomppars_small.csv",
                "NASA Exoplanet Archive composite planet parameters (trimmed columns)", "exoplanets", 5900),
    DatasetInfo("kepler1_q1", "lightcurves/kepler1b_kic11446443_q1_llc.csv",
                "Kepler Q1 PDCSAP light curve of TrES-2 (Kepler-1)", "lightcurve", 1600),
    DatasetInfo("kepler10_q1", "lightcurves/kepler10b_kic11904151_q1_llc.csv",
                "Kepler Q1 PDCSAP light curve of Kepler-10", "lightcurve", 1600),
    DatasetInfo("kepler10_tess_s14", "lightcurves/kepler10b_tic377780790_tess_s14_pdcsap.csv",
                "TESS sector 14 2-min PDCSAP light curve of Kepler-10", "lightcurve", 2400),
    DatasetInfo("debcat", "debs.dat", "DEBCat detached eclipsing binaries (Southworth 2015)", "debcat", 255,
                "text/plain"),
    DatasetInfo("hipparcos_hr", "hip2_hr_subset.csv",
                "Hipparcos new reduction, parallax > 10 mas, S/N > 10 (van Leeuwen 2007)", "hipparcos", 18000),
    DatasetInfo("riess2011_cepheids", "R11ceph.dat",
                "Cepheids in SN Ia hosts, F160W Wesenheit (Riess et al. 2011)", "cepheids", 640, "text/plain"),
)}


def dataset_ids() -> list[str]:
    return sorted(DATASETS)


def dataset_info(dataset_id: str) -> DatasetInfo:
    try:
        return DATASETS[dataset_id]
    except (KeyError, TypeError):
        raise DataError(f"unknown dataset {dataset_id!r}; known: {', '.join(dataset_ids())}") from None


def data_root() -> Path:
    return Path(str(resources.files("astroagent.science").joinpath("data")))


def dataset_path(dataset_id: str, root: Path | None = None) -> Path:
    return (root or data_root()) / dataset_info(dataset_id).filename


def read_packaged(dataset_id: str, root: Path | None = None) -> bytes:
    """The packaged file's bytes (what the archive serves)."""
    path = dataset_path(dataset_id, root)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"dataset {dataset_id!r}: cannot read {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class LightCurve:
    time: np.ndarray       # BKJD days
    flux: np.ndarray       # e-/s
    flux_err: np.ndarray
    dataset_id: str


@dataclass(frozen=True)
class Table:
    """Named float columns (NaN = missing) plus a few text columns."""

    columns: dict[str, np.ndarray]
    text: dict[str, tuple[str, ...]]
    dataset_id: str

    def __len__(self) -> int:
        first = next(iter(self.columns.values()), None)
        return 0 if first is None else len(first)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]


def _text(dataset_id: str, raw: bytes) -> str:
    if not isinstance(raw, (bytes, bytearray)):
        raise DataError(f"dataset {dataset_id!r}: expected bytes, got {type(raw).__name__}")
    if not raw.strip():
        raise DataError(f"dataset {dataset_id!r}: empty file")
    if b"\0" in raw[:4096]:
        raise DataError(f"dataset {dataset_id!r}: binary data, not a text table")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"dataset {dataset_id!r}: not UTF-8 text (byte {exc.start})") from None
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype", "<html", "<?xml", "<head", "<body")):
        raise DataError(f"dataset {dataset_id!r}: got an HTML/XML page instead of the data table")
    return text


def _number(dataset_id: str, value: str, line: int, column: str) -> float:
    if value == "" or value is None:
        return math.nan
    try:
        return float(value)
    except ValueError:
        raise DataError(f"dataset {dataset_id!r}: line {line}: column {column!r}: not a number: "
                        f"{value[:40]!r}") from None


def _check_rows(info: DatasetInfo, n: int) -> None:
    if n < info.min_rows:
        raise DataError(f"dataset {info.id!r}: truncated: {n} rows, expected at least {info.min_rows}")


def _parse_csv(info: DatasetInfo, raw: bytes, numeric: tuple[str, ...], text_cols: tuple[str, ...] = ()
               ) -> tuple[dict[str, np.ndarray], dict[str, tuple[str, ...]]]:
    text = _text(info.id, raw)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise DataError(f"dataset {info.id!r}: no header line") from None
    missing = [c for c in (*numeric, *text_cols) if c not in header]
    if missing:
        raise DataError(f"dataset {info.id!r}: not the expected table: missing column(s) {', '.join(missing)}")
    index = {name: header.index(name) for name in (*numeric, *text_cols)}
    nums: dict[str, list[float]] = {c: [] for c in numeric}
    texts: dict[str, list[str]] = {c: [] for c in text_cols}
    try:
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(f"dataset {info.id!r}: line {lineno}: {len(row)} fields, expected "
                                f"{len(header)} (corrupt or truncated)")
            for c in numeric:
                nums[c].append(_number(info.id, row[index[c]], lineno, c))
            for c in text_cols:
                texts[c].append(row[index[c]])
    except csv.Error as exc:
        raise DataError(f"dataset {info.id!r}: malformed CSV: {exc}") from None
    _check_rows(info, len(nums[numeric[0]]))
    return ({c: np.asarray(v, dtype=float) for c, v in nums.items()},
            {c: tuple(v) for c, v in texts.items()})


def _lightcurve(info: DatasetInfo, raw: bytes) -> LightCurve:
    cols, _ = _parse_csv(info, raw, ("time_bkjd", "pdcsap_flux", "pdcsap_flux_err", "sap_quality"))
    good = (np.isfinite(cols["time_bkjd"]) & np.isfinite(cols["pdcsap_flux"])
            & np.isfinite(cols["pdcsap_flux_err"]) & (cols["sap_quality"] == 0))
    if good.sum() < 100:
        raise DataError(f"dataset {info.id!r}: only {int(good.sum())} good cadences")
    order = np.argsort(cols["time_bkjd"][good])
    return LightCurve(cols["time_bkjd"][good][order], cols["pdcsap_flux"][good][order],
                      cols["pdcsap_flux_err"][good][order], info.id)


_EXO_NUMERIC = ("pl_orbper", "pl_rade", "pl_radeerr1", "pl_radeerr2", "pl_bmasse", "pl_bmasseerr1",
                "pl_bmasseerr2", "pl_insol", "st_teff", "st_rad", "st_mass", "pl_controv_flag", "disc_year")
_EXO_TEXT = ("pl_name", "hostname", "discoverymethod", "pl_bmassprov")


def _exoplanets(info: DatasetInfo, raw: bytes) -> Table:
    nums, texts = _parse_csv(info, raw, _EXO_NUMERIC, _EXO_TEXT)
    return Table(nums, texts, info.id)


def _hipparcos(info: DatasetInfo, raw: bytes) -> Table:
    nums, _ = _parse_csv(info, raw, ("HIP", "Plx_mas", "e_Plx_mas", "Hpmag", "B_V", "e_B_V", "V_I"))
    return Table(nums, {}, info.id)


_DEB_NUMERIC = ("period", "vmag", "b_v", "logm1", "e_logm1", "logm2", "e_logm2", "logr1", "e_logr1", "logr2",
                "e_logr2", "logg1", "e_logg1", "logg2", "e_logg2", "logteff1", "e_logteff1", "logteff2",
                "e_logteff2", "logl1", "e_logl1", "logl2", "e_logl2", "mh", "e_mh")


def _debcat(info: DatasetInfo, raw: bytes) -> Table:
    """Fixed-width DEBCat: a name, two spectral types (may hold spaces), then 25 numbers; -9.99 = missing."""
    text = _text(info.id, raw)
    lines = text.splitlines()
    if not lines or not lines[0].startswith("#") or "log(M1)" not in lines[0]:
        raise DataError(f"dataset {info.id!r}: not DEBCat (header line with 'log(M1)' missing)")
    names: list[str] = []
    values: list[list[float]] = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 1 + len(_DEB_NUMERIC):
            raise DataError(f"dataset {info.id!r}: line {lineno}: {len(parts)} fields, expected at least "
                            f"{1 + len(_DEB_NUMERIC)} (corrupt or truncated)")
        row = [_number(info.id, v, lineno, c) for v, c in zip(parts[-len(_DEB_NUMERIC):], _DEB_NUMERIC)]
        values.append([math.nan if v <= -9.98 and v >= -10.0 else v for v in row])
        names.append(parts[0])
    _check_rows(info, len(values))
    arr = np.asarray(values, dtype=float)
    return Table({c: arr[:, i] for i, c in enumerate(_DEB_NUMERIC)}, {"system": tuple(names)}, info.id)


_CEPH_COLUMNS = ("id", "gal", "m", "merr", "P", "logO_H", "bias")


def _cepheids(info: DatasetInfo, raw: bytes) -> Table:
    text = _text(info.id, raw)
    header_seen = False
    rows: list[list[float]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            header_seen = header_seen or stripped.lstrip("# ").split()[:3] == ["id", "gal", "m"]
            continue
        parts = stripped.split()
        if len(parts) != len(_CEPH_COLUMNS):
            raise DataError(f"dataset {info.id!r}: line {lineno}: {len(parts)} fields, expected "
                            f"{len(_CEPH_COLUMNS)} (corrupt or truncated)")
        rows.append([_number(info.id, v, lineno, c) for v, c in zip(parts, _CEPH_COLUMNS)])
    if not header_seen:
        raise DataError(f"dataset {info.id!r}: not the Riess 2011 Cepheid table (column header missing)")
    _check_rows(info, len(rows))
    arr = np.asarray(rows, dtype=float)
    return Table({c: arr[:, i] for i, c in enumerate(_CEPH_COLUMNS)}, {}, info.id)


_PARSERS: dict[str, Callable[[DatasetInfo, bytes], Any]] = {
    "lightcurve": _lightcurve,
    "exoplanets": _exoplanets,
    "hipparcos": _hipparcos,
    "debcat": _debcat,
    "cepheids": _cepheids,
}


def parse_dataset(dataset_id: str, raw: bytes) -> LightCurve | Table:
    """Parse a dataset's bytes; DataError on anything that is not the whole, expected table."""
    info = dataset_info(dataset_id)
    return _PARSERS[info.kind](info, raw)

"""Dataset ids, packaged files and strict parsers: every corrupt input is a DataError, never a half table."""

from __future__ import annotations

import numpy as np
import pytest

from astroagent.errors import DataError
from astroagent.science.datasets import (
    DATASETS,
    LightCurve,
    Table,
    dataset_ids,
    parse_dataset,
    read_packaged,
)


@pytest.mark.parametrize("dataset_id", sorted(DATASETS))
def test_every_packaged_dataset_parses(dataset_id: str) -> None:
    parsed = parse_dataset(dataset_id, read_packaged(dataset_id))
    if isinstance(parsed, LightCurve):
        assert len(parsed.time) > 1000 and np.all(np.diff(parsed.time) > 0)
    else:
        assert isinstance(parsed, Table) and len(parsed) >= DATASETS[dataset_id].min_rows


def test_catalogue_holds_the_transit_targets() -> None:
    table = parse_dataset("exoplanet_catalog", read_packaged("exoplanet_catalog"))
    names = list(table.text["pl_name"])
    assert table["pl_orbper"][names.index("TrES-2 b")] == pytest.approx(2.47063)
    assert table["pl_orbper"][names.index("Kepler-10 b")] == pytest.approx(0.8374907)


def test_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(DataError, match="unknown dataset 'nope'; known: debcat"):
        read_packaged("nope")
    assert "kepler1_q1" in dataset_ids()


@pytest.mark.parametrize("dataset_id", sorted(DATASETS))
def test_truncated_file_is_rejected(dataset_id: str) -> None:
    raw = read_packaged(dataset_id)
    with pytest.raises(DataError, match="truncated|fields"):
        parse_dataset(dataset_id, raw[: len(raw) // 3])


@pytest.mark.parametrize("body, message", [
    (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>\n", "HTML"),
    (b"\x89PNG\r\n\x1a\n\x00\x00binary", "binary"),
    (b"\xff\xfe\xfa garbage \xff\n", "not UTF-8"),
    (b"", "empty"),
    (b"a,b,c\n1,2,3\n", "missing column"),
])
def test_garbage_is_rejected_with_a_clear_reason(body: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_dataset("kepler1_q1", body)


def test_a_bad_number_names_line_and_column() -> None:
    raw = read_packaged("kepler10_q1").decode().splitlines(keepends=True)
    raw[5] = raw[5].replace(raw[5].split(",")[1], "abc", 1)
    with pytest.raises(DataError, match=r"line 6: column 'pdcsap_flux': not a number"):
        parse_dataset("kepler10_q1", "".join(raw).encode())


def test_debcat_and_cepheid_garbage_rejected() -> None:
    with pytest.raises(DataError, match="not DEBCat"):
        parse_dataset("debcat", read_packaged("riess2011_cepheids"))
    with pytest.raises(DataError, match="Cepheid table|fields"):
        parse_dataset("riess2011_cepheids", read_packaged("debcat"))

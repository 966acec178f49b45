"""The success chart draws one line per code version, also when a canary interleaves two."""

from __future__ import annotations

import re

from astroagent.dashboard.chart import Mark, Point, success_chart


def test_an_interleaved_canary_is_one_line_per_version_with_its_own_rate() -> None:
    # baseline and canary alternate experiment by experiment (a concurrent canary at fraction 0.5)
    points = [Point(t=float(i), success=(i % 2 == 1) or i % 4 == 0, code_version="canary" if i % 2 else "base")
              for i in range(40)]
    svg = success_chart(points, [Mark(t=3.0, change_id="chg-1", label="add_retry_mechanism", verdict="kept",
                                      status="applied")])
    groups = re.findall(r'<g class="version v\d" data-version="([^"]+)" data-experiments="(\d+)">', svg)
    assert groups == [("base", "20"), ("canary", "20")]
    assert "base · 50% of 20" in svg and "canary · 100% of 20" in svg
    assert svg.count("<polyline") == 2 and svg.count('class="pt ') == 40
    canary_line = re.search(r'data-version="canary".*?points="([^"]+)"', svg).group(1)
    assert {pt.split(",")[1] for pt in canary_line.split()} == {re.search(r'cy="([\d.]+)"', svg).group(1)}


def test_a_long_history_names_only_the_latest_versions_in_the_legend() -> None:
    points = [Point(t=float(i), success=True, code_version=f"ver{i // 5:02d}") for i in range(50)]
    svg = success_chart(points)
    assert svg.count('class="version ') == 10 and svg.count('class="legend"') == 4
    assert "ver09 · 100% of 5" in svg and "ver05 · " not in svg

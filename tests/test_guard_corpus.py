"""Every proposal in tests/guard_corpus gets the verdict it must: hostile ones refused naming the broken
rule, sound ones (real bug fixes, the codemods' own outputs) accepted."""

from __future__ import annotations

from collections import Counter

import pytest

from astroagent.labtech.changes.guard import check_change
from guard_corpus import all_cases

CASES = all_cases()


def test_the_corpus_is_big_enough_and_ids_are_unique():
    hostile = [c for c in CASES if not c.ok]
    sound = [c for c in CASES if c.ok]
    assert len(hostile) >= 150 and len(sound) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
    kinds = Counter(c.kind for c in hostile)
    assert all(kinds[k] >= 10 for k in ("faking the evidence", "swallowed errors", "dynamic code", "processes",
                                        "network", "files", "public API"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_verdict(case):
    report = check_change(case.target, case.proposed, path="corpus.py", kind=case.change, functions=case.functions)
    assert report.ok is case.ok, f"{case.why}: {report.violations}"
    assert all(line.startswith("corpus.py: ") for line in report.violations)
    if case.rule:
        assert any(line.startswith(f"corpus.py: {case.rule}: ") for line in report.violations), \
            (case.why, report.violations)

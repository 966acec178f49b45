"""One execution: model the depths of three known planets and compare with their measured depths."""

from transitfit.model import limb_darkened_depth

PLANETS = (("TrES-2 b", 0.125, 0.84, 0.0105), ("Kepler-10 b", 0.0127, 0.30, 0.00015),
           ("HD 209458 b", 0.121, 0.50, 0.0146), ("WASP-12 b", 0.117, 0.34, 0.0138))


def run_once(archive_url: str, i: int) -> None:
    for offset in range(3):
        name, k, b, measured = PLANETS[(i + offset) % len(PLANETS)]
        depth = limb_darkened_depth(k, b)
        if not 0.2 * measured < depth < 5 * measured:
            raise RuntimeError(f"{name}: model depth {depth:.5f} far from measured {measured:.5f}")

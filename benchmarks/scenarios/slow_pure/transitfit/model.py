"""Transit depth of a planet in front of a quadratically limb-darkened star, by numerical integration."""

import math

from astroagent.telemetry import instrument


def _intensity(r: float, u1: float, u2: float) -> float:
    """Quadratic limb darkening at radius r (0 = centre, 1 = limb) of the stellar disc."""
    mu = math.sqrt(max(0.0, 1.0 - r * r))
    return 1.0 - u1 * (1.0 - mu) - u2 * (1.0 - mu) ** 2


@instrument(digest_args=True)
def limb_darkened_depth(radius_ratio: float, impact: float, u1: float = 0.4, u2: float = 0.25,
                        samples: int = 160) -> float:
    """Fraction of the star's light the planet blocks at mid-transit (grid integration over the disc)."""
    step = 2.0 / samples
    total = blocked = 0.0
    for i in range(samples):
        x = -1.0 + (i + 0.5) * step
        for j in range(samples):
            y = -1.0 + (j + 0.5) * step
            r2 = x * x + y * y
            if r2 >= 1.0:
                continue
            light = _intensity(math.sqrt(r2), u1, u2)
            total += light
            if (x - impact) ** 2 + y * y < radius_ratio * radius_ratio:
                blocked += light
    return blocked / total

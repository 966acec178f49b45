"""The archive client: fetch datasets, and model transit depths to compare with what they show."""

import math
import urllib.request

from astroagent.telemetry import instrument


class ArchiveClient:
    """Talks to one archive; remembers its base URL and request timeout."""

    def __init__(self, base_url: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    @instrument(digest_args=True)
    def fetch(self, dataset_id: str) -> bytes:
        """The dataset's bytes."""
        with urllib.request.urlopen(f"{self.base_url}/datasets/{dataset_id}", timeout=self.timeout) as response:
            return response.read()

    @instrument(digest_args=True)
    def model_depth(self, radius_ratio: float, impact: float, samples: int = 220) -> float:
        """Mid-transit depth of a limb-darkened star (u1=0.4, u2=0.25), by grid integration over the disc."""
        step = 2.0 / samples
        total = blocked = 0.0
        for i in range(samples):
            x = -1.0 + (i + 0.5) * step
            for j in range(samples):
                y = -1.0 + (j + 0.5) * step
                r2 = x * x + y * y
                if r2 >= 1.0:
                    continue
                mu = math.sqrt(1.0 - r2)
                light = 1.0 - 0.4 * (1.0 - mu) - 0.25 * (1.0 - mu) ** 2
                total += light
                if (x - impact) ** 2 + y * y < radius_ratio * radius_ratio:
                    blocked += light
        return blocked / total

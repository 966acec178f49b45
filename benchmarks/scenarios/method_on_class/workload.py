"""One execution: fetch a Kepler light curve, measure its transit depth, compare with the model."""

from archiveclient.client import ArchiveClient

TARGETS = (("kepler1_q1", 0.125, 0.84), ("kepler10_q1", 0.0127, 0.30))


def _depth(data: bytes) -> float:
    flux = sorted(float(line.split(b",")[1]) for line in data.splitlines()[1:] if line.split(b",")[1])
    top = flux[len(flux) // 2]
    return 1.0 - flux[len(flux) // 200] / top


def run_once(archive_url: str, i: int) -> None:
    client = ArchiveClient(archive_url)
    dataset, k, b = TARGETS[i % 2]
    observed = _depth(client.fetch(dataset))
    model = client.model_depth(k, b)
    if not 0.0 < model < 0.05 or not 0.0 < observed < 0.05:
        raise RuntimeError(f"{dataset}: implausible depths (observed {observed:.5f}, model {model:.5f})")

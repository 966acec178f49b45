"""Getting the data: from the archive over HTTP, or the packaged copy when working offline."""

import urllib.request

from astroagent.science.datasets import parse_dataset, read_packaged
from astroagent.telemetry import instrument


@instrument(digest_args=True)
def fetch_dataset(base_url, dataset_id):
    """Download one dataset's bytes from the archive (no archive: read the packaged file)."""
    if not base_url:
        return read_packaged(dataset_id)
    url = base_url.rstrip("/") + "/datasets/" + dataset_id
    response = urllib.request.urlopen(url)
    data = response.read()
    response.close()
    return data


def load_dataset(base_url, dataset_id):
    """Fetch and parse a dataset into arrays."""
    raw = fetch_dataset(base_url, dataset_id)
    return parse_dataset(dataset_id, raw)

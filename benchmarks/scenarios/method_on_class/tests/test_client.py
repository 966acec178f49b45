from archiveclient.client import ArchiveClient


def test_fetch_reads_the_dataset(tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "kepler1_q1").write_bytes(b"time,flux\n1,2\n")
    assert ArchiveClient(tmp_path.as_uri()).fetch("kepler1_q1") == b"time,flux\n1,2\n"


def test_model_depth_of_a_central_transit():
    client = ArchiveClient("http://127.0.0.1:9")
    depth = client.model_depth(0.1, 0.0, samples=120)
    assert 0.01 < depth < 0.015
    assert client.model_depth(0.1, 1.5, samples=40) == 0.0

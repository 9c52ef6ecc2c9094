"""Downloads from mirrors served by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from weightinit.cli import main
from weightinit.data import load_dataset
from weightinit.data.fetch import fetch_mnist
from weightinit.data.readers import DataError

from ..mnist_files import write_idx_files


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/www at http://127.0.0.1:<port>/; yields (base_url, root, request log)."""
    root = tmp_path / "www"
    root.mkdir()
    _Handler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root, _Handler.requests
    httpd.shutdown()
    httpd.server_close()


def _publish(folder: Path, files: dict[str, bytes]) -> dict[str, str]:
    """Write gzipped files; return name -> sha256 of the content, as fetch_mnist expects."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(gzip.compress(content))
    return {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}


FILES = {"a.gz": b"alpha" * 1000, "b.gz": b"bravo" * 3000}


@pytest.mark.slow
def test_downloads_and_verifies(server, tmp_path):
    url, root, requests = server
    checksums = _publish(root / "m1", FILES)
    paths = fetch_mnist(tmp_path / "out", [f"{url}/m1/"], files=checksums, progress=False)
    assert [p.name for p in paths] == ["a.gz", "b.gz"]
    assert gzip.decompress(paths[1].read_bytes()) == FILES["b.gz"]
    # A second fetch finds them verified and downloads nothing.
    n = len(requests)
    fetch_mnist(tmp_path / "out", [f"{url}/m1/"], files=checksums, progress=False)
    assert len(requests) == n


@pytest.mark.slow
def test_falls_back_to_the_next_mirror_on_404_and_on_a_bad_checksum(server, tmp_path):
    url, root, requests = server
    checksums = _publish(root / "good", FILES)
    _publish(root / "tampered", {"a.gz": b"evil" * 1000, "b.gz": b"evil"})
    mirrors = [f"{url}/missing", f"{url}/tampered", f"{url}/good"]
    paths = fetch_mnist(tmp_path / "out", mirrors, files=checksums, progress=False)
    assert all(p.is_file() for p in paths)
    assert requests[:3] == ["/missing/a.gz", "/tampered/a.gz", "/good/a.gz"]


@pytest.mark.slow
def test_all_mirrors_failing_lists_each_attempt_and_leaves_nothing(server, tmp_path):
    url, root, _ = server
    checksums = _publish(root / "good", FILES)
    (root / "trunc").mkdir()
    (root / "trunc" / "a.gz").write_bytes(gzip.compress(FILES["a.gz"])[:-20])
    with pytest.raises(DataError) as info:
        fetch_mnist(tmp_path / "out", [f"{url}/nothing", f"{url}/trunc"], files=checksums, progress=False)
    message = str(info.value)
    assert message.startswith("could not download a.gz:")
    assert f"{url}/nothing/a.gz: HTTP 404" in message
    assert f"{url}/trunc/a.gz: the gzip stream is truncated" in message
    assert list((tmp_path / "out").iterdir()) == []  # no partial or temporary file


@pytest.mark.slow
def test_a_corrupt_local_file_is_replaced(server, tmp_path):
    url, root, _ = server
    checksums = _publish(root / "m", FILES)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.gz").write_bytes(b"garbage")
    fetch_mnist(out, [f"{url}/m"], files=checksums, progress=False)
    assert gzip.decompress((out / "a.gz").read_bytes()) == FILES["a.gz"]


def test_unreachable_mirror(tmp_path):
    with pytest.raises(DataError, match="could not download"):
        fetch_mnist(tmp_path, ["http://127.0.0.1:9/"], files={"a.gz": "0" * 64}, timeout=2, progress=False)


@pytest.mark.parametrize("mirrors, message", [([], "at least one base URL"), (["ftp://x/"], "not an http")])
def test_bad_mirrors(tmp_path, mirrors, message):
    with pytest.raises(ValueError, match=message):
        fetch_mnist(tmp_path, mirrors, progress=False)


@pytest.mark.slow
def test_cli_fetches_real_mnist_with_the_official_checksums(server, tmp_path, capsys):
    url, root, _ = server
    write_idx_files(root / "mnist")  # the real bytes, recompressed: the content checksums match
    out = tmp_path / "data"
    assert main(["data", "fetch", "mnist", "--to", str(out), "--mirror", f"{url}/mnist/", "--no-progress"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4
    ds = load_dataset("mnist", out)
    assert ds.source == f"IDX files in {out}" and len(ds.train) == 60000


@pytest.mark.slow
def test_cli_fetch_failure_is_one_line_exit_2(server, tmp_path, capsys):
    url, root, _ = server
    _publish(root / "fake", {"train-images-idx3-ubyte.gz": b"not mnist"})
    out = tmp_path / "data"
    assert main(["data", "fetch", "mnist", "--to", str(out), "--mirror", f"{url}/fake", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "could not download train-images-idx3-ubyte.gz" in err and "sha256 of the content" in err
    assert list(out.iterdir()) == []


def test_a_destination_that_cannot_be_a_folder_is_refused_before_any_download(tmp_path):
    (tmp_path / "afile").write_text("a file")
    with pytest.raises(ValueError, match=r"destination='.*afile/x' cannot be created or written: Not a directory"):
        fetch_mnist(tmp_path / "afile" / "x", ["http://127.0.0.1:9/"], files={"a.gz": "0" * 64}, progress=False)
    with pytest.raises(ValueError, match=r"destination='.*afile' exists and is not a folder"):
        fetch_mnist(tmp_path / "afile", ["http://127.0.0.1:9/"], files={"a.gz": "0" * 64}, progress=False)

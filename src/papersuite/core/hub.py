"""Fetch a model snapshot from the Hugging Face hub for a full-scale run (login node only).

Compute jobs never download: they read the snapshot written here, with ``HF_HUB_OFFLINE=1``.
The snapshot goes to a temporary sibling directory and is renamed into place when complete, with
a manifest naming the repository, the requested revision and the resolved commit.
"""

from __future__ import annotations

import logging
from pathlib import Path

from . import io, runtime

__all__ = ["download_hub_model"]

log = logging.getLogger("papersuite.hub")

# weights, tokenizer and configs; no original checkpoints (consolidated.*.pth) or GGUF copies
ALLOW_PATTERNS = ["*.json", "*.safetensors", "tokenizer*", "*.model", "*.txt"]


def download_hub_model(repo_id: str, revision: str, out_dir, log_path=None) -> Path:
    """Snapshot ``repo_id`` at ``revision`` into ``out_dir`` (atomic rename); returns ``out_dir``.

    Gated models (Llama 3, CodeLlama) need the licence accepted on the hub and a token (``hf auth login``
    or ``HF_TOKEN``) on the login node.
    """
    from huggingface_hub import HfApi, snapshot_download

    runtime.setup_logging(log_path)
    out_dir = Path(out_dir)
    commit = HfApi().model_info(repo_id, revision=revision).sha
    log.info("downloading %s at %s (commit %s) to %s", repo_id, revision, commit, out_dir)
    with io.atomic_dir(out_dir) as tmp:
        snapshot_download(repo_id=repo_id, revision=commit, local_dir=tmp, allow_patterns=ALLOW_PATTERNS)
        files = sorted(p for p in tmp.rglob("*") if p.is_file() and ".cache" not in p.parts)
        io.write_json(
            tmp / "papersuite_manifest.json",
            {
                "repo_id": repo_id,
                "revision": revision,
                "commit": commit,
                "files": {str(p.relative_to(tmp)): p.stat().st_size for p in files},
            },
        )
    log.info("%s: %d files", out_dir, len(files))
    return out_dir

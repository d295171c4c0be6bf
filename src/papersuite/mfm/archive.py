"""The authors' preprocessed organoid archive holds pandas pickles: convert one to parquet once, and only after its
sha256 matches the digest pinned in config (docs/papers/mfm.md, "Data at full scale"). Unpickling runs code from the
file, so a file whose digest we did not pin is never opened by pickle.
"""

from __future__ import annotations

import logging
from pathlib import Path

from papersuite.core.io import atomic_path, sha256_file

__all__ = ["PickleDigestError", "convert_pickle", "convert_archive_member"]

log = logging.getLogger("papersuite.mfm.archive")


class PickleDigestError(ValueError):
    """A pickle's sha256 differs from the pinned digest; it was not unpickled."""


def convert_pickle(pickle_path: str | Path, expected_sha256: str, out_parquet: str | Path) -> Path:
    """Check the pickle's sha256 against expected_sha256, then read it with pandas and write it as parquet
    (atomically). A mismatch, or a missing / malformed digest, raises before anything is unpickled."""
    import pandas as pd

    expected = str(expected_sha256 or "").lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise PickleDigestError(f"{pickle_path}: no valid sha256 pinned ({expected_sha256!r}); refusing to unpickle")
    found = sha256_file(pickle_path)
    if found != expected:
        raise PickleDigestError(
            f"{pickle_path}: sha256 {found} differs from the pinned {expected}; refusing to unpickle"
        )
    frame = pd.read_pickle(pickle_path)
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{pickle_path}: expected a pandas DataFrame, got {type(frame).__name__}")
    frame.columns = [str(c) for c in frame.columns]
    with atomic_path(out_parquet) as tmp:
        frame.to_parquet(tmp)
    log.info("converted %s (%d rows) to %s", pickle_path, len(frame), out_parquet)
    return Path(out_parquet)


def convert_archive_member(archive: str | Path, member: str, expected_sha256: str, out_parquet: str | Path) -> Path:
    """Extract `member` of the zip `archive` to a temporary file, then convert_pickle it (digest first)."""
    import shutil
    import tempfile
    import zipfile

    with zipfile.ZipFile(archive) as zf, tempfile.TemporaryDirectory() as tmp:
        if member not in zf.namelist():
            raise ValueError(f"{archive}: no member {member!r}; it holds {zf.namelist()[:20]}")
        extracted = Path(tmp) / Path(member).name
        with zf.open(member) as src, open(extracted, "wb") as dst:
            shutil.copyfileobj(src, dst)
        return convert_pickle(extracted, expected_sha256, out_parquet)

"""The ensemble's code corpus (docs/papers/bytelm.md "Data"): the Python standard-library corpus of
:mod:`papersuite.core.corpus`, shared with the tokenbounds wing; re-exported here under its former name."""

from papersuite.core.corpus import *  # noqa: F403
from papersuite.core.corpus import __all__ as __all__  # noqa: F401

"""The public story-grouping names under their former home; they live in `ingest.dedupe`.

Kept only for importers outside this package that still name it (`ingest.pipeline`);
new code imports `ingest.dedupe`.  Only the public names are here, never a threshold:
setting a parameter on this module would change nothing, so there is none to set.
"""

from ingest.dedupe import (
    CANDIDATES,
    SAMPLE_K,
    Candidate,
    Match,
    Signature,
    band_keys,
    match,
    min_shared_keys,
    score,
    signature,
)

__all__ = [
    "CANDIDATES",
    "SAMPLE_K",
    "Candidate",
    "Match",
    "Signature",
    "band_keys",
    "match",
    "min_shared_keys",
    "score",
    "signature",
]

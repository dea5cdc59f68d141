"""The dedupe stage's decisions, pure and shared by every store backend.

    article + what the store knows of its batch -> decide_record() -> RecordDecision
    a new article's signature(title, text) -> Signature -> band_keys(sig) -> [int64]
                               -> the store finds candidates by those keys
                               -> decide() (match() on them) -> StoryDecision
                               -> applied in the store's transaction
       (decide() asks the store for a story's state, `StoryState`, before an event-level
        join: no chained merges, `chains`; and for a matched article's `duplicate_of`, so
        that copies of copies point at the earliest original)

Identity keys are `ingest.identity`. The story similarity is pure and deterministic, in
internal modules: `_signature` (what a signature holds, its bytes), `_sketch` (text ->
signature), `_keys` (its index keys), `_match` (the pre-check, the scores and `match`).
"""

from ._keys import band_keys
from ._match import CANDIDATES, Candidate, Match, match, min_shared_keys, score
from ._signature import SAMPLE_K, Signature
from ._sketch import signature
from .chains import Member, StoryState
from .record import FULLER_COPY, RecordDecision, decide_record
from .story import (
    StoryDecision,
    better_representative,
    candidate_since,
    decide,
)

__all__ = [
    "CANDIDATES",
    "FULLER_COPY",
    "SAMPLE_K",
    "Candidate",
    "Match",
    "Member",
    "RecordDecision",
    "Signature",
    "StoryDecision",
    "StoryState",
    "band_keys",
    "better_representative",
    "candidate_since",
    "decide",
    "decide_record",
    "match",
    "min_shared_keys",
    "score",
    "signature",
]

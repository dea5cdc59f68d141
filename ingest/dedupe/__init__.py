"""The dedupe stage's decisions, pure and shared by every store backend.

    article + what the store knows of its batch -> decide_record() -> RecordDecision
    a new article's signature (ingest.stories) -> the store finds candidates
                               -> decide() -> StoryDecision -> applied in its transaction
       (decide() asks the store for a story's state, `StoryState`, before an event-level
        join: no chained merges, `ingest.dedupe.chains`; and for a matched article's
        `duplicate_of`, so that copies of copies point at the earliest original)

Identity keys are `ingest.identity`; the similarity itself is `ingest.stories`.
"""

from .chains import Member, StoryState
from .record import FULLER_COPY, RecordDecision, decide_record
from .story import (
    StoryDecision,
    better_representative,
    candidate_since,
    decide,
)

__all__ = [
    "FULLER_COPY",
    "Member",
    "RecordDecision",
    "StoryDecision",
    "StoryState",
    "better_representative",
    "candidate_since",
    "decide",
    "decide_record",
]

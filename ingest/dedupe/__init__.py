"""The dedupe stage's decisions, pure and shared by every store backend.

    article + what the store knows of its batch -> decide_record() -> RecordDecision
    a new article's signature (ingest.stories) -> the store finds candidates
                               -> decide() -> StoryDecision -> applied in its transaction

Identity keys are `ingest.identity`; the similarity itself is `ingest.stories`.
"""

from .record import FULLER_COPY, RecordDecision, decide_record
from .story import (
    StoryDecision,
    better_representative,
    candidate_since,
    decide,
)

__all__ = [
    "FULLER_COPY",
    "RecordDecision",
    "StoryDecision",
    "better_representative",
    "candidate_since",
    "decide",
    "decide_record",
]

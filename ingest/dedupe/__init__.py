"""The dedupe stage: which story a new article joins (pure, shared by every store backend).

    signature (ingest.stories) -> the store finds candidates -> decide() -> StoryDecision
                               -> the store applies it in its transaction

Identity keys are `ingest.identity`; the similarity itself is `ingest.stories`.
"""

from .story import (
    StoryDecision,
    better_representative,
    candidate_since,
    decide,
)

__all__ = ["StoryDecision", "better_representative", "candidate_since", "decide"]

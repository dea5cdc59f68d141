"""The story signature: what it holds, and its bytes (the store keeps them per article).

A signature sketches one article for story grouping (built by `signature`, in
`ingest.dedupe._sketch`; keyed by `band_keys`, `ingest.dedupe._keys`; compared by `match`,
`ingest.dedupe._match`). SIGNATURE_VERSION 6, at most ~2.6 KB serialized:

- ``sample``: the SAMPLE_K smallest 30-bit hashes of the text's word 8-grams (a bottom-k
  sketch; the title's when there is no text).  Two samples compared below a common
  threshold estimate the *containment* of the shorter text in the longer (exact when both
  are short, i.e. for most news articles at SAMPLE_K = 512): a copy in other boilerplate,
  a summary-only copy, a cut, a reordered text.  At 160 values the estimate's noise
  (+-0.05 around the 0.5 threshold) merged two different ECB+ articles; older signatures
  with fewer values still compare (below the common threshold).
- ``lead``: 16-bit hashes of the 3-word shingles of the first LEAD_TOKENS words, and
  ``anchors``: the first few of them picked by their own hash (1 in 8, holding a content
  word), which every copy of the same opening picks too -- keys that survive truncation.
- ``terms`` / ``weights``: the MAX_TERMS heaviest content words of the headline and the
  first EVENT_WORDS words of the text, weighted by a static idf prior (rare words and names
  weigh most) times a sublinear term frequency; flags mark names (capitalised words,
  numbers) and headline words.  An item with fewer than FEW_TERMS terms is headline-only:
  it is keyed and matched by rules of its own.

The parameters here are the ones every part reads; each part's own are in its module.
"""

from __future__ import annotations

import functools
import struct
from array import array
from dataclasses import dataclass

__all__ = ["FEW_TERMS", "LEAD_TOKENS", "SAMPLE_K", "SIGNATURE_VERSION", "Signature"]

SIGNATURE_VERSION = 6  # 6: headline name keys; 5: pair keys; 4: pure-Python hashing
SAMPLE_K = 512  # bottom-k sample of the body's word 8-grams
LEAD_TOKENS = 100  # words of the text that make up the "lead"
FEW_TERMS = 20  # fewer event terms than this: a headline-only item

_M64 = (1 << 64) - 1
_NAME = 0x40  # weight flags
_TITLE = 0x80
_WMASK = 0x3F


_HEAD = struct.Struct("<BIHHHH")  # version, n_body, counts of sample, lead, anchors, terms


@dataclass(frozen=True, slots=True)
class Signature:
    """A compact, serializable sketch of one article (see the module docstring)."""

    n_body: int  # 3-word shingles of the body (a length)
    sample: tuple[int, ...]  # the SAMPLE_K smallest 30-bit 8-gram values, ascending
    lead: tuple[int, ...]  # sorted distinct 16-bit hashes of the lead shingles
    anchors: tuple[int, ...]  # up to MAX_ANCHORS sampled 32-bit lead shingles, text order
    terms: tuple[int, ...]  # sorted distinct 32-bit hashes of the heaviest event terms
    weights: tuple[int, ...]  # per term: weight (6 bits) | _NAME | _TITLE

    @property
    def names(self) -> tuple[int, ...]:
        return tuple(t for t, w in zip(self.terms, self.weights, strict=True) if w & _NAME)

    def term_weights(self) -> dict[int, int]:
        """The event terms and their weights (flags masked off): the vector the event
        cosine compares."""
        return {t: w & _WMASK for t, w in zip(self.terms, self.weights, strict=True)}

    def to_bytes(self) -> bytes:
        """Header (version, body count, part lengths), then u32 sample, u16 lead, u32
        anchors, u32 terms, u8 weights."""
        return b"".join(
            (
                _HEAD.pack(
                    SIGNATURE_VERSION,
                    self.n_body,
                    len(self.sample),
                    len(self.lead),
                    len(self.anchors),
                    len(self.terms),
                ),
                array("I", self.sample).tobytes(),
                array("H", self.lead).tobytes(),
                array("I", self.anchors).tobytes(),
                array("I", self.terms).tobytes(),
                bytes(self.weights),
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        """Inverse of :meth:`to_bytes`. Raises ValueError on bytes it did not write (which
        includes signatures of another SIGNATURE_VERSION)."""
        head = _check(data)
        _, n_body, ns, nl, na, nt = head
        values = _parts(ns, nl, na, nt).unpack_from(data, _HEAD.size)
        a, b, c, d = ns, ns + nl, ns + nl + na, ns + nl + na + nt
        return cls(n_body, values[:a], values[a:b], values[b:c], values[c:d], values[d:])

    @classmethod
    def with_bytes(cls, sig: Signature | bytes) -> tuple[Signature, bytes]:
        """`sig` and its serialized form, whichever of the two it is given as."""
        if isinstance(sig, bytes):
            return cls.from_bytes(sig), sig
        return sig, sig.to_bytes()

    @staticmethod
    def valid_bytes(data: bytes) -> bool:
        """Whether :meth:`from_bytes` would accept `data` (header and size only: cheap)."""
        try:
            _check(data)
        except ValueError:
            return False
        return True


def _check(data: bytes) -> tuple[int, int, int, int, int, int]:
    try:
        head: tuple[int, int, int, int, int, int] = _HEAD.unpack_from(data, 0)
    except struct.error as exc:
        raise ValueError(f"truncated signature ({len(data)} bytes): {exc}") from None
    version, _, ns, nl, na, nt = head
    if version != SIGNATURE_VERSION:
        raise ValueError(f"unknown signature version {version}")
    size = _HEAD.size + 4 * ns + 2 * nl + 4 * na + 5 * nt
    if len(data) != size:
        raise ValueError(f"signature has {len(data)} bytes, expected {size}")
    return head


@functools.lru_cache(maxsize=512)
def _parts(ns: int, nl: int, na: int, nt: int) -> struct.Struct:
    """The body of a serialized signature with these part lengths, as one Struct."""
    return struct.Struct(f"<{ns}I{nl}H{na}I{nt}I{nt}B")


@functools.lru_cache(maxsize=128)
def _u32s(n: int) -> struct.Struct:
    return struct.Struct(f"<{n}I")

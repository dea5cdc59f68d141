"""Content-Encoding decoding with a cap on the output: gzip (several members too), deflate
(with or without its zlib header) and brotli, fed raw chunks as they arrive, so a
compression bomb stops at the cap without more than the cap ever held in memory."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import brotli

__all__ = ["Decoder", "OverCapError"]


class OverCapError(Exception):
    """The decoded output went past the cap."""


class Decoder:
    """Content-Encoding decoder with an output cap, fed raw chunks as they arrive."""

    def __init__(self, encodings: list[str], limit: int) -> None:
        self.limit = limit
        self.total = 0
        self._stages: list[Callable[[bytes, int], bytes]] = []
        # Content-Encoding lists codings in the order applied: undo them in reverse
        for enc in reversed(encodings):
            if enc in ("gzip", "x-gzip"):
                self._stages.append(_ZlibStage(47).feed)  # 32 + 15: gzip or zlib header
            elif enc == "deflate":
                self._stages.append(_ZlibStage(15, fallback_raw=True).feed)
            elif enc == "br":
                self._stages.append(_BrotliStage().feed)
            elif enc in ("identity", ""):
                continue
            else:
                raise ValueError(f"unsupported Content-Encoding {enc!r}")

    def feed(self, chunk: bytes) -> bytes:
        for stage in self._stages:
            chunk = stage(chunk, self.limit - self.total)
        self.total += len(chunk)
        if self.total > self.limit:
            raise OverCapError
        return chunk


class _ZlibStage:
    def __init__(self, wbits: int, fallback_raw: bool = False) -> None:
        self.wbits = wbits
        self.fallback_raw = fallback_raw
        self.started = False
        self.d = zlib.decompressobj(wbits)

    def feed(self, data: bytes, room: int) -> bytes:
        out: list[bytes] = []
        produced = 0
        while data:
            try:
                piece = self.d.decompress(data, max(1, room - produced + 1))
            except zlib.error:
                if self.fallback_raw and not self.started:  # "deflate" sent without zlib header
                    self.d = zlib.decompressobj(-15)
                    self.fallback_raw = False
                    continue
                raise
            self.started = True
            produced += len(piece)
            out.append(piece)
            if produced > room:
                raise OverCapError
            if self.d.eof:
                rest = self.d.unused_data
                if rest[:2] == b"\x1f\x8b":  # another gzip member follows
                    self.d = zlib.decompressobj(self.wbits)
                    data = rest
                    continue
                break  # trailing garbage after the stream: ignored, as browsers do
            data = self.d.unconsumed_tail
        return b"".join(out)


class _BrotliStage:
    def __init__(self) -> None:
        self.d = brotli.Decompressor()

    def feed(self, data: bytes, room: int) -> bytes:
        limit = max(1, room + 1)
        out = [self.d.process(data, output_buffer_limit=limit)]
        produced = len(out[0])
        while produced <= room and not self.d.is_finished() and not self.d.can_accept_more_data():
            piece = self.d.process(b"", output_buffer_limit=limit)
            if not piece:
                break
            out.append(piece)
            produced += len(piece)
        if produced > room:
            raise OverCapError
        return b"".join(out)

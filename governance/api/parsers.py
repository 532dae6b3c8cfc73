"""The API's JSON parser: refuses what the database or the audit log could not take, as a 400.

- Nesting deeper than ``MAX_DEPTH`` (a 5,000-level body raised RecursionError: a 500).
- NUL characters in any string or key (PostgreSQL text and jsonb cannot hold U+0000: a 500).

Both checks walk the parsed body iteratively, only when the raw bytes could hold such a thing,
so a large flat body (an evaluation's predictions) costs two ``bytes.count`` calls.
"""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 64


class BodyRefused(ParseError):
    """A parse error that names the field (``fields`` of the error body)."""

    def __init__(self, message: str, field: str = "body"):
        super().__init__(f"{field}: {message}" if field != "body" else message)
        self.field = field


def _walk(data, depth_possible: bool, nul_possible: bool) -> None:
    stack = [(data, 1, "body")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict):
            if depth_possible and depth > MAX_DEPTH:
                raise BodyRefused(f"JSON nested deeper than {MAX_DEPTH} levels", path)
            for key, item in value.items():
                if nul_possible and "\x00" in key:
                    raise BodyRefused("a key contains a NUL character (U+0000)", path)
                stack.append((item, depth + 1, key if path == "body" else f"{path}.{key}"))
        elif isinstance(value, list):
            if depth_possible and depth > MAX_DEPTH:
                raise BodyRefused(f"JSON nested deeper than {MAX_DEPTH} levels", path)
            stack.extend((item, depth + 1, f"{path}[{index}]") for index, item in enumerate(value))
        elif nul_possible and isinstance(value, str) and "\x00" in value:
            raise BodyRefused("text contains a NUL character (U+0000), which cannot be stored", path)


def check_parsed(raw: bytes, data) -> None:
    """Refuse ``data`` (parsed from ``raw``) when too deep or holding NUL characters."""
    depth_possible = raw.count(b"[") + raw.count(b"{") > MAX_DEPTH
    nul_possible = b"\\u0000" in raw or b"\x00" in raw
    if depth_possible or nul_possible:
        _walk(data, depth_possible, nul_possible)


class _RawCapture:
    """Keeps the bytes a parser reads so they can be checked after parsing."""

    def __init__(self, stream):
        self.stream, self.raw = stream, b""

    def read(self, *args):
        chunk = self.stream.read(*args)
        self.raw += chunk
        return chunk


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        capture = _RawCapture(stream)
        try:
            data = super().parse(capture, media_type, parser_context)
        except RecursionError:
            raise BodyRefused(f"JSON nested deeper than {MAX_DEPTH} levels") from None
        check_parsed(capture.raw, data)
        return data

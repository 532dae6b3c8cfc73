"""Blocks by name: an explicit registry instead of ``getattr(self, f"b_{name}")``.

Each block is a function ``fn(r: Renderer, **options) -> list[Flowable]`` registered with
:func:`block`. :func:`check_outline` refuses an outline that names an unknown block before anything
is drawn, so a compliance PDF never carries an "unknown block" placeholder.
"""

from __future__ import annotations

from collections.abc import Callable

from governance.reports.outlines import block_options, block_type

_BLOCKS: dict[str, Callable] = {}


class UnknownBlock(ValueError):
    """An outline names a block that no renderer is registered for."""


def block(name: str):
    """Register the decorated function as the renderer of block ``name`` (names are unique)."""

    def register(fn: Callable) -> Callable:
        if name in _BLOCKS:
            raise ValueError(f"block {name!r} is registered twice")
        _BLOCKS[name] = fn
        return fn

    return register


def block_names() -> list[str]:
    return sorted(_BLOCKS)


def check_outline(outline) -> None:
    """Raise :class:`UnknownBlock` naming every unknown block of ``outline`` (with its section)."""
    unknown = [
        f"section {section.get('id')!r}: {block_type(b)!r}"
        for section in outline.get("sections", [])
        for b in section.get("blocks", [])
        if block_type(b) not in _BLOCKS
    ]
    if unknown:
        raise UnknownBlock("unknown block(s) in the outline: " + "; ".join(unknown))


def render(r, spec) -> list:
    """The flowables of one block of the outline."""
    name = block_type(spec)
    fn = _BLOCKS.get(name)
    if fn is None:
        raise UnknownBlock(f"unknown block {name!r}")
    return fn(r, **block_options(spec))

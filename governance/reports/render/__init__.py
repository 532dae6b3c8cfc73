"""Render a pack document (plain dict, see docs/pack-schema.md) to a PDF following an outline.

Public API:

- :func:`render_pack_pdf` writes the PDF to a file path;
(pack identity, the content hash and the pack id, lives in :mod:`governance.reports.identity`).

Reproducibility: the same pack dict gives byte-identical output. reportlab runs with
``invariant=1``, the PDF dates come from ``pack["as_of"]["ts"]``, bookmarks and keys are derived
from section ids, every list is rendered in pack order (or sorted where the renderer aggregates),
and no random ids are used.

Layout is two-pass (reportlab ``multiBuild``): the table of contents is pre-filled with its final
entries, so the first pass already has the final layout and the second pass writes the page
numbers (TOC and "Page x of y"). Long listings (the audit trail) are split into page-sized tables
whose row heights are computed here, which keeps layout linear in the number of rows.

Package layout: :mod:`.flowables` (reportlab flowables and text helpers), :mod:`.base` (the
renderer's primitives and shared selections), :mod:`.registry` (blocks by name; an unknown block is
refused before anything is drawn), :mod:`.blocks` (the blocks by domain) and :mod:`.assembly` (the
document, its pages and metadata)."""

from governance.reports.render.assembly import render_pack_pdf
from governance.reports.render.base import GENERATOR_NAME, LEGAL_NOTE, NOT_PROVIDED, fmt
from governance.reports.render.registry import UnknownBlock, block_names

__all__ = ["render_pack_pdf", "NOT_PROVIDED", "GENERATOR_NAME", "LEGAL_NOTE", "fmt", "UnknownBlock", "block_names"]

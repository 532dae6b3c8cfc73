"""Fixtures for the pure rendering layer (no database)."""

from __future__ import annotations

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import reports_pack_factory as factory
from pypdf import PdfReader

from governance.reports.outlines import load_outline
from governance.reports.render import render_pack_pdf

REGIMES = ("sr11-7", "eu-ai-act")


def norm(text: str) -> str:
    """Extracted text with non-breaking spaces and line breaks collapsed to single spaces."""
    return re.sub(r"\s+", " ", text.replace("\xa0", " "))


class Rendered:
    def __init__(self, pack: dict, outline: dict, path: str, progress: list):
        self.pack, self.outline, self.path, self.progress = pack, outline, path, progress
        self.reader = PdfReader(path)
        self.pages = [p.extract_text() or "" for p in self.reader.pages]
        self.text = norm(" ".join(self.pages))
        self.compact = re.sub(r"\s+", "", " ".join(self.pages))

    def bytes(self) -> bytes:
        with open(self.path, "rb") as fh:
            return fh.read()


def render(tmp_path_factory, pack: dict, name: str) -> Rendered:
    outline = load_outline(pack["regime"])
    path = str(tmp_path_factory.mktemp("packs") / f"{name}.pdf")
    calls: list = []
    render_pack_pdf(pack, outline, path, progress=lambda k, n, title: calls.append((k, n, title)))
    return Rendered(pack, outline, path, calls)


@pytest.fixture(scope="session", params=REGIMES)
def full(request, tmp_path_factory) -> Rendered:
    return render(tmp_path_factory, factory.make_pack(request.param), f"full-{request.param}")


@pytest.fixture(scope="session", params=REGIMES)
def no_evaluations(request, tmp_path_factory) -> Rendered:
    pack = factory.variant(factory.make_pack(request.param), evaluations=False)
    return render(tmp_path_factory, pack, f"noeval-{request.param}")


@pytest.fixture(scope="session", params=REGIMES)
def no_approvals(request, tmp_path_factory) -> Rendered:
    pack = factory.variant(factory.make_pack(request.param), approvals=False)
    return render(tmp_path_factory, pack, f"noappr-{request.param}")


@pytest.fixture(scope="session", params=REGIMES)
def no_narratives(request, tmp_path_factory) -> Rendered:
    pack = factory.variant(factory.make_pack(request.param), narratives=False)
    return render(tmp_path_factory, pack, f"nonarr-{request.param}")

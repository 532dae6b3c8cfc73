"""Inputs referenced by path (``input_uri``) instead of uploaded: read in place by the worker.

Allowed only under ``EVALUATION_INPUT_ROOTS`` (symlinks and ``..`` resolved before the check, so a
link cannot lead out of a root). The file is identified by its stat fingerprint (device, inode, size,
modification and change times) when it is referenced; the worker refuses it if the fingerprint changed
since, takes the SHA-256 of its exact bytes, and refuses it again if it changed while being digested or
evaluated: the digest recorded is always that of the bytes the result was computed from."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings

from governance.common.errors import PermissionRefused, ValidationFailed

FIELD = "input_uri"
MAX_URI_LENGTH = 4096


def _refuse(message: str, error: type[ValidationFailed] | type[PermissionRefused] = ValidationFailed):
    raise error(f"{FIELD}: {message}", field=FIELD)


def resolve(uri) -> Path:
    """The real path of an allowed, readable regular file named by ``uri`` (absolute path or file:// URI)."""
    if not isinstance(uri, str) or not uri.strip():
        _refuse("must be an absolute path or a file:// URI")
    if len(uri) > MAX_URI_LENGTH:
        _refuse(f"at most {MAX_URI_LENGTH} characters")
    if "://" in uri:
        parts = urlsplit(uri)
        if parts.scheme.lower() != "file":
            _refuse(f"the {parts.scheme!r} scheme is not supported: give an absolute path or a file:// URI")
        if parts.netloc not in ("", "localhost"):
            _refuse(f"a file:// URI names a file on this host, not on {parts.netloc!r}")
        if parts.query or parts.fragment:
            _refuse("a file:// URI takes no query or fragment")
        path = unquote(parts.path)
    else:
        path = uri
    if not os.path.isabs(path):
        _refuse("must be an absolute path")
    roots = [os.path.realpath(r) for r in settings.EVALUATION_INPUT_ROOTS]
    if not roots:
        _refuse(
            "inputs referenced by path are not enabled on this installation (setting EVALUATION_INPUT_ROOTS)",
            PermissionRefused,
        )
    real = os.path.realpath(path)
    if not any(os.path.commonpath([real, root]) == root for root in roots):
        _refuse(
            f"{path!r} is outside the directories inputs may be read from (setting EVALUATION_INPUT_ROOTS)",
            PermissionRefused,
        )
    if not os.path.exists(real):
        _refuse(f"no file at {path!r}")
    if not os.path.isfile(real):
        _refuse(f"{path!r} is not a regular file")
    if not os.access(real, os.R_OK):
        _refuse(f"{path!r} is not readable by the service")
    return Path(real)


def fingerprint(path: str | Path) -> dict:
    """What identifies the file's current content without reading it: any write changes the change
    time (which no user call can set back), a replacement changes the inode."""
    st = os.stat(path)
    return {
        "dev": st.st_dev,
        "ino": st.st_ino,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
    }


def check_unchanged(path: str | Path, expected: dict, when: str) -> None:
    try:
        now = fingerprint(path)
    except OSError as exc:
        _refuse(f"the file {str(path)!r} cannot be read any more ({exc.strerror})")
    if now != expected:
        changed = ", ".join(k for k in now if now[k] != expected.get(k))
        _refuse(f"the file {str(path)!r} changed {when} ({changed} differ); post the evaluation again")


def digest(path: str | Path, expected: dict) -> str:
    """SHA-256 of the file's exact bytes, refused if the file is not the one referenced or changes meanwhile."""
    check_unchanged(path, expected, "after it was referenced")
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            h.update(chunk)
    check_unchanged(path, expected, "while its digest was taken")
    return h.hexdigest()

"""Export bundles for auditors: every entry's canonical bytes, every signed checkpoint, the keys.

The layout is the one ``audit/verifier.py`` checks offline (a directory, or a zip with the same
layout at its root). Entries are streamed from the database, never loaded whole.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypedDict

from audit.checkpoints import checkpoint_create, checkpoint_payload, head, latest_checkpoint, public_keys
from audit.models import AuditCheckpoint, AuditEvent

README = """# Audit log export

Log origin: {origin}
Entries: {size} (seq 0 to {last}), all covered by the signed checkpoint of size {size}.

Files
- entries.jsonl — each entry's exact canonical JSON bytes, one per line, in seq order
- checkpoints/<size>.txt — every signed checkpoint (C2SP tlog-checkpoint in a C2SP signed note)
- keys.txt — the log's public keys as served by the service (do NOT trust these: pin the key
  you obtained out of band)

Verify offline (Python 3.11 with the `cryptography` package, no access to the service):

    python verifier.py THIS_BUNDLE --key YOUR_PINNED_KEY_FILE [--trusted-checkpoint LAST_CHECKPOINT.txt]

`verifier.py` is the standalone program shipped as audit/verifier.py. It prints PASS with the
size and root it verified, or FAIL with the first bad seq (or file) and the reason. Keep the
newest checkpoint file as your trusted checkpoint for the next audit: the next bundle must be
consistent with it.
"""

CHUNK = 5000


def _entries(limit: int) -> Iterator[bytes]:
    rows = AuditEvent.objects.filter(seq__lt=limit).order_by("seq").values_list("record", flat=True)
    for record in rows.iterator(chunk_size=CHUNK):
        yield bytes(record) + b"\n"


def _writes(data: bytes) -> Callable[[IO[bytes]], int]:
    return lambda handle: handle.write(data)


class ExportSummary(TypedDict):
    path: str
    origin: str
    size: int
    root: str
    checkpoints: int


def export_bundle(output: str | Path, *, progress: Callable[[int], None] | None = None) -> ExportSummary:
    """Write a bundle to ``output`` (a directory, or a path ending in .zip). Returns a summary."""
    checkpoint_create()
    checkpoint = latest_checkpoint()
    if checkpoint is None:
        raise ValueError("the log is empty: nothing to export")
    size = checkpoint.size  # entries appended after the checkpoint wait for the next export
    origin = head().origin
    files: list[tuple[str, Callable[[IO[bytes]], object]]] = []

    def write_entries(handle: IO[bytes]) -> None:
        for count, line in enumerate(_entries(size), start=1):
            handle.write(line)
            if progress and count % CHUNK == 0:
                progress(CHUNK)
        if progress:
            progress(size % CHUNK)

    files.append(("entries.jsonl", write_entries))
    for cp in AuditCheckpoint.objects.filter(size__lte=size).order_by("size"):
        files.append((f"checkpoints/{cp.size:020d}.txt", _writes(cp.note.encode())))
    keys = "\n".join(public_keys()) + "\n"
    files.append(("keys.txt", _writes(keys.encode())))
    readme = README.format(origin=origin, size=size, last=size - 1)
    files.append(("README.md", _writes(readme.encode())))

    output = Path(output)
    if output.suffix == ".zip":
        output.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output.parent, suffix=".part", delete=False) as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, writer in files:
                    with archive.open(name, "w", force_zip64=True) as handle:
                        writer(handle)
        Path(tmp.name).replace(output)
    else:
        if output.exists() and any(output.iterdir()):
            raise FileExistsError(f"{output} exists and is not empty")
        staging = Path(tempfile.mkdtemp(dir=output.parent if output.parent.exists() else None))
        for name, writer in files:
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as handle:
                writer(handle)
        if output.exists():
            output.rmdir()
        shutil.move(str(staging), str(output))
    return {
        "path": str(output),
        "origin": origin,
        "size": size,
        "root": checkpoint_payload(checkpoint)["root"],
        "checkpoints": len(files) - 3,
    }

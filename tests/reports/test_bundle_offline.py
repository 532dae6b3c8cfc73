"""The evidence bundle verifies with only what is inside it: its own verifier.py run by a fresh
virtual environment that has nothing but ``cryptography`` installed (no Django, no project)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from audit import checkpoints
from audit.keys import signers_for
from audit.notes import checkpoint_body, sign_note
from audit.verifier import CheckpointError, parse_checkpoint, parse_verifier_key, verify_checkpoint
from tests.reports.test_packs import auditor_user, generate, governed_version  # noqa: F401

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def _fresh_venv(where: Path) -> Path:
    """A new virtual environment with only cryptography (and what it needs) installed."""
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    python = where / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE")}
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-input", "cryptography"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True)
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "django" not in names and "mlgov" not in names, names
    return python


def test_a_bundle_verifies_with_its_own_verifier_in_a_fresh_environment(governed_version, auditor_user, tmp_path):  # noqa: F811
    pack = generate(governed_version, "sr11-7", auditor_user)
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(Path(pack.bundle.path).read_bytes())
    with zipfile.ZipFile(bundle) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members["manifest.json"])
    # the verifier travels with the bundle, listed in the manifest like every other file
    assert members["verifier.py"] == (ROOT / "audit" / "verifier.py").read_bytes()
    assert manifest["files"]["verifier.py"] == hashlib.sha256(members["verifier.py"]).hexdigest()
    readme = members["README.md"].decode()
    assert len(readme.splitlines()) == 5
    assert "python verifier.py" in readme and "PASS proves" in readme
    # only what is inside: the verifier, the bundle and a key the auditor pinned
    workdir = tmp_path / "auditor"
    workdir.mkdir()
    (workdir / "verifier.py").write_bytes(members["verifier.py"])
    key = workdir / "pinned.pub"
    key.write_text("\n".join(checkpoints.public_keys()) + "\n")
    python = _fresh_venv(tmp_path / "venv")

    def run(path):
        return subprocess.run(
            [str(python), "-I", "verifier.py", str(path), "--key", str(key)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=workdir,
        )

    ok = run(bundle)
    assert ok.returncode == 0 and ok.stdout.startswith("PASS"), ok.stdout + ok.stderr
    for name in ("pack.json", "verifier.py", "audit/entries.jsonl"):
        tampered = bytearray(members[name])
        tampered[len(tampered) // 2] ^= 0x01
        path = tmp_path / "tampered.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for other, data in members.items():
                archive.writestr(other, bytes(tampered) if other == name else data)
        bad = run(path)
        assert bad.returncode == 1 and bad.stdout.startswith("FAIL") and name in bad.stdout, bad.stdout + bad.stderr


def test_pack_json_is_jcs_canonical_and_the_hash_recomputes(governed_version, auditor_user):  # noqa: F811
    import rfc8785

    pack = generate(governed_version, "eu-ai-act", auditor_user)
    with zipfile.ZipFile(pack.bundle.path) as archive:
        data = archive.read("pack.json")
    assert data == rfc8785.dumps(json.loads(data))
    assert hashlib.sha256(rfc8785.dumps(json.loads(data))).hexdigest() == pack.content_sha256


def test_a_checkpoint_with_extension_lines_verifies(db):
    checkpoints.checkpoint_create()
    head = checkpoints.head()
    signers = signers_for(head.origin)
    root = hashlib.sha256(b"root").digest()
    body = checkpoint_body(head.origin, 7, root) + "extension: witnessed-by example.org\n"
    note = sign_note(body, signers)
    keys = [parse_verifier_key(k) for k in checkpoints.public_keys()]
    origin, size, got_root, _names = verify_checkpoint(note, keys)
    assert (origin, size, got_root) == (head.origin, 7, root)
    # the extension line is signed like the rest: changing it breaks the signature
    with pytest.raises(Exception, match="signature|trusted"):
        verify_checkpoint(note.replace("example.org", "example.net"), keys)
    with pytest.raises(CheckpointError, match="extension lines must not be empty"):
        parse_checkpoint(checkpoint_body(head.origin, 7, root) + "\nx\n")
    with pytest.raises(CheckpointError, match="at least 3 lines"):
        parse_checkpoint(f"{head.origin}\n7\n")
    assert base64.b64encode(root).decode() in body
    assert sys.version_info >= (3, 11)

"""End-to-end CLI runs of audit/verifier.py and its import hygiene."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

VERIFIER = os.path.join(os.path.dirname(__file__), "..", "..", "audit", "verifier.py")
VERIFIER = os.path.abspath(VERIFIER)


def run(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    p = subprocess.run(
        [sys.executable, VERIFIER, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or "/",
        env=env,
        timeout=120,
    )
    return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="module")
def keyfile(tmp_path_factory, signer):
    p = tmp_path_factory.mktemp("keys") / "log.pub"
    p.write_text(signer.verifier_key() + "\n")
    return p


def test_cli_pass(base_bundle, keyfile, signer):
    code, out, err = run(base_bundle, "--key", keyfile)
    assert code == 0, (out, err)
    assert out.startswith("PASS: 1000 entries, tree size 1000, root ")
    assert out.strip().endswith(f"checkpoints 10, keys {signer.name}")


def test_cli_pass_zip_with_trusted_checkpoint(base_bundle, keyfile, kit, tmp_path):
    z = kit.zip_dir(base_bundle, tmp_path / "b.zip")
    trusted = os.path.join(base_bundle, "checkpoints", f"{500:020d}.txt")
    code, out, _ = run(z, "--key", keyfile, "--trusted-checkpoint", trusted)
    assert code == 0 and out.startswith("PASS: "), out


def test_cli_fail_seq(bundle_copy, keyfile):
    path = os.path.join(bundle_copy, "entries.jsonl")
    lines = open(path, "rb").read().split(b"\n")
    lines[42] = lines[42].replace(b'"auc":"0.9312"', b'"auc":"0.9313"')
    open(path, "wb").write(b"\n".join(lines))
    code, out, _ = run(bundle_copy, "--key", keyfile)
    assert code == 1
    assert out.startswith("FAIL: seq 42: "), out


def test_cli_fail_file(bundle_copy, keyfile, tmp_path, kit):
    from audit import notes

    other = notes.Signer.from_key_string(notes.generate_signer_key(kit.ORIGIN))
    kf = tmp_path / "other.pub"
    kf.write_text(other.verifier_key())
    code, out, _ = run(bundle_copy, "--key", kf)
    assert code == 1
    assert out.startswith("FAIL: checkpoints/00000000000000000100.txt: "), out
    # two keys: the pinned one and an unrelated one -> pass
    code, out, _ = run(bundle_copy, "--key", kf, "--key", keyfile)
    assert code == 0, out


def test_cli_evidence(tmp_path, signer, log1000, kit, keyfile):
    entries, leaves = log1000
    z = kit.make_evidence(tmp_path / "ev.zip", [signer], entries, leaves, [3, 500], as_zip=True)
    code, out, _ = run(z, "--key", keyfile)
    assert code == 0 and out.startswith("PASS: 2 entries, tree size 1000"), out
    d = kit.make_evidence(tmp_path / "evdir", [signer], entries, leaves, [3, 500])
    with open(os.path.join(d, "pack.json"), "ab") as f:
        f.write(b" ")
    code, out, _ = run(d, "--key", keyfile)
    assert code == 1 and out.startswith("FAIL: pack.json: "), out


def test_cli_usage_errors(base_bundle, keyfile, tmp_path, signer):
    assert run(base_bundle)[0] == 2  # no --key
    assert run()[0] == 2
    assert run(tmp_path / "nope", "--key", keyfile)[0] == 2
    assert run(base_bundle, "--key", tmp_path / "missing.pub")[0] == 2
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key\n")
    assert run(base_bundle, "--key", bad)[0] == 2
    priv = tmp_path / "priv.pub"
    priv.write_text("PRIVATE+KEY+x+00000000+AAAA\n")
    assert run(base_bundle, "--key", priv)[0] == 2


def test_verifier_imports_only_stdlib_and_cryptography():
    code = (
        "import sys, runpy, os\n"
        "before = set(sys.modules)\n"
        "sys.argv = ['verifier.py', '--help']\n"
        "try:\n"
        f"    runpy.run_path({VERIFIER!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "import cryptography\n"
        "cdir = os.path.dirname(cryptography.__file__)\n"
        "bad = []\n"
        "for name in sorted(set(sys.modules) - before):\n"
        "    top = name.split('.')[0]\n"
        "    if top in sys.stdlib_module_names or top in ('cryptography', '_cffi_backend', '__main__'):\n"
        "        continue\n"
        "    f = getattr(sys.modules[name], '__file__', None) or ''\n"
        "    if f and not f.startswith(cdir):  # no __file__: native submodules of cryptography's rust core\n"
        "        bad.append(name)\n"
        "print('BAD', bad)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", env=env, timeout=60)
    assert "BAD []" in p.stdout, p.stdout + p.stderr
    import re

    src = open(VERIFIER).read()
    imports = re.findall(r"^\s*(?:import|from)\s+([\w.]+)", src, re.M)
    assert not [m for m in imports if m.split(".")[0] in ("django", "audit", "governance", "rfc8785")], imports


def test_verifier_runs_as_copied_single_file(tmp_path, base_bundle, keyfile):
    import shutil

    copy = tmp_path / "verifier.py"
    shutil.copy(VERIFIER, copy)
    p = subprocess.run(
        [sys.executable, str(copy), base_bundle, "--key", str(keyfile)],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        timeout=120,
    )
    assert p.returncode == 0 and p.stdout.startswith("PASS: "), p.stdout + p.stderr

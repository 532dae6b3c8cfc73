"""The log's Ed25519 signing keys. They live outside the database, never in a row.

Sources, all combined (several keys sign during a rotation):
- ``AUDIT_SIGNING_KEYS``: signer key strings (``PRIVATE+KEY+<origin>+<id>+<key>``), separated by
  newlines or commas — typically injected from a secrets manager;
- ``AUDIT_SIGNING_KEY_FILE``: a file with one signer key string per line.
With ``AUDIT_GENERATE_DEV_KEY`` (on when ``DEBUG`` is on) and no key for this log, a key is
generated into the key file on first use. In production a missing key is an error.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from audit.notes import Signer, generate_signer_key


class SigningKeyMissing(ImproperlyConfigured):
    pass


def _key_strings() -> list[str]:
    strings = [part.strip() for part in settings.AUDIT_SIGNING_KEYS.replace(",", "\n").splitlines() if part.strip()]
    path = Path(settings.AUDIT_SIGNING_KEY_FILE) if settings.AUDIT_SIGNING_KEY_FILE else None
    if path and path.exists():
        strings += [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return strings


def key_source_configured() -> bool:
    """True when some signing key is available without generating one (checked at startup)."""
    return bool(_key_strings())


def signers_for(origin: str) -> list[Signer]:
    """Every configured signer for this log (key name == log origin); generates a dev key if allowed."""
    signers = []
    for text in _key_strings():
        try:
            signer = Signer.from_key_string(text)
        except ValueError as exc:
            raise SigningKeyMissing(f"an audit signing key is malformed: {exc}") from exc
        if signer.name == origin:
            signers.append(signer)
    if signers:
        return signers
    if not settings.AUDIT_GENERATE_DEV_KEY:
        raise SigningKeyMissing(
            f"no audit signing key for log {origin!r}. Generate one with `python -m audit.notes {origin}` and "
            "provide it through AUDIT_SIGNING_KEYS or AUDIT_SIGNING_KEY_FILE."
        )
    path = Path(settings.AUDIT_SIGNING_KEY_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_signer_key(origin)
    with open(path, "a") as handle:
        handle.write(key + "\n")
    os.chmod(path, 0o600)
    return [Signer.from_key_string(key)]


def verifier_keys_for(origin: str) -> list[str]:
    """Public keys in the signed-note verifier-key format, one per signer."""
    return [signer.verifier_key() for signer in signers_for(origin)]

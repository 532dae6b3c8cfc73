"""Subscription secrets and Standard Webhooks signatures (the ``standardwebhooks`` library).

A secret is ``whsec_`` + base64 of 32 random bytes, the format the library and Standard Webhooks
receivers expect. We must sign with it, so it is stored encrypted (Fernet, AES-128-CBC +
HMAC-SHA256) under ``WEBHOOKS_SECRET_KEY`` (a Fernet key), or, when that is unset, under a key
derived from ``SECRET_KEY`` with HKDF. It never appears in the audit log, the delivery log or the
API after the response that created or rotated it.

What the log carries instead is a keyed digest (``audit_digest``): HMAC-SHA256 under a key derived
(HKDF) from the same key material, so that the public log reveals nothing of the secret or of a
token in the URL's query string, while state verification on the server still detects a raw edit of
either. The digest names its key (``kid``): changing the key makes the old digests uncheckable, which
``audit_verify --state`` reports until the secret is rotated (that rotation, which a key change needs
anyway, records fresh digests under the new key).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def secret_hint(secret: str) -> str:
    return secret[: len(SECRET_PREFIX) + 4] + "…"


def _fernet() -> Fernet:
    if settings.WEBHOOKS_SECRET_KEY:
        return Fernet(settings.WEBHOOKS_SECRET_KEY.encode("ascii"))
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mlgov webhook secrets").derive(
        settings.SECRET_KEY.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _digest_key() -> bytes:
    material = settings.WEBHOOKS_SECRET_KEY or settings.SECRET_KEY
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mlgov webhook audit digests").derive(
        material.encode("utf-8")
    )


def audit_digest(subscription_id: int | str, field: str, value: str) -> str:
    """``hmac-sha256:<kid>:<hex>`` of one subscription's field: bound to the subscription and the
    field, so that a value copied from another row or field does not match; ``kid`` names the key."""
    key = _digest_key()
    kid = hmac.new(key, b"key id", hashlib.sha256).hexdigest()[:8]
    message = f"{field}\x00{subscription_id}\x00{value}".encode("utf-8", "surrogatepass")
    return f"hmac-sha256:{kid}:{hmac.new(key, message, hashlib.sha256).hexdigest()}"


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode("ascii")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise RuntimeError(
            "cannot decrypt a webhook secret: WEBHOOKS_SECRET_KEY (or SECRET_KEY) changed since it was stored; "
            "rotate the subscription's secret"
        ) from exc


def signed_headers(secret: str, message_id: str, body: str, *, at: dt.datetime | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body`` (the exact bytes sent, as text)."""
    at = at or dt.datetime.now(dt.UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
        "content-type": "application/json",
        "user-agent": "mlgov-webhooks/1",
    }

"""Subscription secrets and Standard Webhooks signatures (the ``standardwebhooks`` library).

A secret is ``whsec_`` + base64 of 32 random bytes, the format the library and Standard Webhooks
receivers expect. We must sign with it, so it is stored encrypted (Fernet, AES-128-CBC +
HMAC-SHA256) under ``WEBHOOKS_SECRET_KEY`` (a Fernet key), or, when that is unset, under a key
derived from ``SECRET_KEY`` with HKDF. It never appears in the audit log, the delivery log or the
API after the response that created or rotated it.
"""

from __future__ import annotations

import base64
import datetime as dt
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

"""``Idempotency-Key`` for POST: a replay returns the first response; the same key with a
different body is a 409. Keys are scoped to the authenticated user."""

from __future__ import annotations

import hashlib
import json

from django.db import IntegrityError, transaction
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from governance.api.models import IdempotencyRecord
from governance.common.errors import Conflict, ValidationFailed

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class Replay(Exception):
    def __init__(self, response: Response):
        self.response = response


def request_fingerprint(request) -> str:
    """SHA-256 over method, path and body; uploaded files count by their own SHA-256."""
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    if request.content_type.startswith("multipart/"):
        fields = {key: request.data.getlist(key) for key in sorted(request.data.keys()) if key not in request.FILES}
        digest.update(json.dumps(fields, sort_keys=True).encode())
        for name in sorted(request.FILES):
            for upload in request.FILES.getlist(name):
                file_digest = hashlib.sha256()
                for chunk in upload.chunks():
                    file_digest.update(chunk)
                upload.seek(0)
                digest.update(f"{name}:{file_digest.hexdigest()}".encode())
    else:
        digest.update(request.body)
    return digest.hexdigest()


def begin(request) -> IdempotencyRecord | None:
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(f"must be 1-{MAX_KEY_LENGTH} printable characters", field=HEADER)
    fingerprint = request_fingerprint(request)
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                user=request.user,
                key=key,
                method=request.method,
                path=request.path[:500],
                request_sha256=fingerprint,
            )
    except IntegrityError:
        record = IdempotencyRecord.objects.get(user=request.user, key=key)
    if record.request_sha256 != fingerprint:
        raise Conflict(
            "this Idempotency-Key was used with a different request", field=HEADER, code="idempotency_key_reused"
        )
    if record.status == 0:
        raise Conflict(
            "a request with this Idempotency-Key is still being processed; retry shortly",
            field=HEADER,
            code="idempotency_in_progress",
        )
    response = Response(json.loads(record.response_body) if record.response_body else None, status=record.status)
    response["Idempotent-Replayed"] = "true"
    raise Replay(response)


def complete(record: IdempotencyRecord, response: Response) -> None:
    if response.status_code >= 500:
        abandon(record)  # let the client retry a server failure with the same key
        return
    body = JSONRenderer().render(response.data).decode() if response.data is not None else ""
    IdempotencyRecord.objects.filter(pk=record.pk).update(status=response.status_code, response_body=body)


def abandon(record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).delete()

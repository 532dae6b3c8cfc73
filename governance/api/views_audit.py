"""The verifiable audit log over HTTP: keys, checkpoints, proofs, entries, external events, export."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from audit import checkpoints
from audit import selectors as audit_selectors
from audit.export import export_bundle
from audit.external import ExternalEventRefused, external_events_append
from audit.services import AuditInputError, audit_unit
from governance.accounts.roles import AUDITOR, PIPELINE
from governance.api.views_common import GovernanceViewSet
from governance.common.errors import NotFound, ValidationFailed

MAX_ENTRIES_PER_CALL = 1000
RECORD_FIELD_NAMES = {"data": "details", "object": "target"}


class IsAuditorOrAdmin(permissions.BasePermission):
    message = "only auditors and administrators read the audit log over the API"

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.has_role(AUDITOR))


class IsPipeline(permissions.BasePermission):
    message = "only pipeline service accounts record external events"

    def has_permission(self, request, view):
        user = request.user
        return bool(
            user and user.is_authenticated and user.is_service_account and user.has_role(PIPELINE, superusers=False)
        )


def _int_param(request, name: str, *, default: int | None = None) -> int:
    """A non-negative integer query parameter; required unless a ``default`` is given."""
    value = request.query_params.get(name)
    if value in (None, ""):
        if default is None:
            raise ValidationFailed(f"{name} is required", field=name)
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ValidationFailed(f"{name} must be an integer", field=name) from exc
    if number < 0:
        raise ValidationFailed(f"{name} must not be negative", field=name)
    return number


def _proof_call(function, *args):
    try:
        return function(*args)
    except checkpoints.ProofRequestInvalid as exc:
        raise ValidationFailed(str(exc), field=exc.field) from exc


class ExternalEventSerializer(serializers.Serializer):
    action = serializers.CharField(help_text="Dotted lower_snake, e.g. pipeline.batch_scored")
    target = serializers.DictField(help_text='{"type": ..., "id": ..., ...}')
    details = serializers.DictField(required=False, help_text="No floats: send decimals as strings.")
    reason = serializers.CharField(required=False, max_length=10000)


class ExternalEventsSerializer(serializers.Serializer):
    events = ExternalEventSerializer(many=True)


class AuditLogViewSet(GovernanceViewSet):
    """Everything an auditor needs to check the log without trusting this server."""

    permission_classes = [IsAuditorOrAdmin]
    queryset = audit_selectors.events().none()

    def get_permissions(self):
        if self.action == "keys":
            return [permissions.AllowAny()]
        if self.action == "events":
            return [IsPipeline()]
        return super().get_permissions()

    @extend_schema(
        responses={
            200: inline_serializer("AuditKeys", {"origin": serializers.CharField(), "keys": serializers.ListField()})
        }
    )
    @action(detail=False, methods=["get"])
    def keys(self, request):
        """The log's public keys (signed-note verifier keys). Pin one obtained out of band."""
        return Response({"origin": checkpoints.head().origin, "keys": checkpoints.public_keys()})

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"])
    def checkpoint(self, request):
        """The latest signed checkpoint (a C2SP tlog-checkpoint in a signed note)."""
        checkpoints.checkpoint_create(min_interval=checkpoints.MIN_CHECKPOINT_INTERVAL)
        latest = checkpoints.latest_checkpoint()
        if latest is None:
            raise NotFound("the log is empty: no checkpoint yet")
        return Response(checkpoints.checkpoint_payload(latest))

    @extend_schema(
        parameters=[
            OpenApiParameter("seq", int, required=True),
            OpenApiParameter("size", int, required=True, description="tree size"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"], url_path="proof/inclusion")
    def inclusion(self, request):
        """RFC 9162 inclusion proof of entry ``seq`` in the tree of ``size`` entries."""
        return Response(_proof_call(checkpoints.inclusion, _int_param(request, "seq"), _int_param(request, "size")))

    @extend_schema(
        parameters=[OpenApiParameter("first", int, required=True), OpenApiParameter("second", int, required=True)],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"], url_path="proof/consistency")
    def consistency(self, request):
        """RFC 9162 consistency proof from tree size ``first`` to ``second``."""
        return Response(
            _proof_call(checkpoints.consistency, _int_param(request, "first"), _int_param(request, "second"))
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("start", int, required=True, description="first seq of the page (inclusive)"),
            OpenApiParameter(
                "end", int, description=f"exclusive; default start + 100, at most start + {MAX_ENTRIES_PER_CALL}"
            ),
        ],
        responses={
            200: inline_serializer(
                "AuditEntriesPage",
                {
                    "start": serializers.IntegerField(),
                    "end": serializers.IntegerField(),
                    "size": serializers.IntegerField(help_text="entries in the log when the page was read"),
                    "next": serializers.IntegerField(
                        allow_null=True, help_text="start of the next page; null when this page reaches the head"
                    ),
                    "entries": inline_serializer(
                        "AuditEntry",
                        {
                            "seq": serializers.IntegerField(),
                            "record": serializers.CharField(help_text="the exact canonical JSON that was hashed"),
                            "leaf_hash": serializers.CharField(help_text="base64"),
                        },
                        many=True,
                    ),
                },
            )
        },
    )
    @action(detail=False, methods=["get"])
    def entries(self, request):
        """Entries ``start`` <= seq < ``end`` as their exact canonical bytes (UTF-8 text), one seq range
        per call: page through the log with ``next`` (a seq range is an index probe, never a count, so
        the cost does not depend on the log's size)."""
        start = _int_param(request, "start")
        end = _int_param(request, "end", default=start + 100)
        if end <= start or end - start > MAX_ENTRIES_PER_CALL:
            raise ValidationFailed(
                f"end must be greater than start and at most start + {MAX_ENTRIES_PER_CALL}", field="end"
            )
        size = audit_selectors.head().size
        if start > size:
            raise ValidationFailed(
                f"start is past the end of the log ({size} entries, seq 0 to {size - 1})", field="start"
            )
        rows = audit_selectors.events_in_range(start, end).values_list("seq", "record", "leaf_hash")
        return Response(
            {
                "start": start,
                "end": end,
                "size": size,
                "next": end if end < size else None,
                "entries": [
                    {
                        "seq": seq,
                        "record": bytes(record).decode("utf-8"),
                        "leaf_hash": base64.b64encode(bytes(leaf)).decode(),
                    }
                    for seq, record, leaf in rows
                ],
            }
        )

    @extend_schema(
        request=ExternalEventsSerializer,
        responses={
            201: inline_serializer(
                "AppendedRange",
                {
                    "count": serializers.IntegerField(),
                    "first_seq": serializers.IntegerField(),
                    "last_seq": serializers.IntegerField(),
                },
            )
        },
    )
    @action(detail=False, methods=["post"])
    def events(self, request):
        """Append up to 10,000 of the pipeline's own events in one transaction; returns their seq range."""
        body = request.data
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            raise ValidationFailed('send {"events": [...]}', field="events")
        try:
            summary = external_events_append(
                actor=self.principal.actor,
                events=[event if isinstance(event, dict) else {"action": None} for event in body["events"]],
            )
        except ExternalEventRefused as exc:
            raise ValidationFailed(str(exc), field=exc.field) from exc
        except AuditInputError as exc:
            head, _, rest = exc.field.partition(".")
            field = f"events[{exc.index}].{RECORD_FIELD_NAMES.get(head, head)}{'.' + rest if rest else ''}"
            raise ValidationFailed(str(exc), field=field) from exc
        return Response(summary, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    @action(detail=False, methods=["get"])
    def export(self, request):
        """A zip bundle of every entry and checkpoint, for audit/verifier.py (signs a checkpoint first)."""
        workdir = Path(tempfile.mkdtemp(prefix="mlgov-export-"))
        summary = export_bundle(workdir / "audit-log.zip")
        with audit_unit(self.principal.actor) as audit:
            audit.add(
                "audit.export",
                {"type": "audit_log", "id": summary["origin"]},
                details={"size": summary["size"], "root": summary["root"]},
            )
        handle = open(summary["path"], "rb")  # FileResponse closes it; the file is gone once closed
        Path(summary["path"]).unlink()
        workdir.rmdir()
        return FileResponse(
            handle, as_attachment=True, filename=f"audit-log-{summary['size']}.zip", content_type="application/zip"
        )

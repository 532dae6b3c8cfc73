"""Read-only admin for the log: browse and filter, never change."""

import base64
import json

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html

from audit.models import AuditCheckpoint, AuditEvent, AuditHead, AuditPendingEvent, AuditVerification

STALE_CHECKPOINT_SECONDS = 15 * 60


def log_status() -> dict:
    """What the audit page shows above the list: size, latest checkpoint and its age, last verification."""
    head = AuditHead.objects.get(pk=1)
    checkpoint = AuditCheckpoint.objects.order_by("-size").first()
    verification = AuditVerification.objects.filter(finished_at__isnull=False).order_by("-started_at").first()
    age = (timezone.now() - checkpoint.created_at).total_seconds() if checkpoint else None
    return {
        "origin": head.origin,
        "size": head.size,
        "pending": AuditPendingEvent.objects.count(),
        "checkpoint": checkpoint,
        "checkpoint_age_seconds": int(age) if age is not None else None,
        "unsigned_entries": head.size - (checkpoint.size if checkpoint else 0),
        "checkpoint_stale": checkpoint is None or (head.size > checkpoint.size and age > STALE_CHECKPOINT_SECONDS),
        "verification": verification,
    }


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that are only ever read in the admin (the log, signatures, history)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        """Only the actions an admin declares (each goes through its service); never the bulk delete."""
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "ts", "actor_display", "action", "object_type", "object_id", "request_id")
    list_filter = ("action", "actor_type", "object_type", ("ts", admin.DateFieldListFilter))
    search_fields = ("=seq", "actor_username", "actor_id", "action", "object_id", "request_id")
    date_hierarchy = "ts"
    list_per_page = 100
    ordering = ("-seq",)  # newest first; filters and search narrow it down
    fields = (
        "seq",
        "ts",
        "actor_display",
        "action",
        "object_type",
        "object_id",
        "request_id",
        "leaf_hash_b64",
        "pretty_record",
    )
    readonly_fields = fields
    show_full_result_count = False
    change_list_template = "admin/audit/auditevent/change_list.html"

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "log_status": log_status()})

    @admin.display(description="actor", ordering="actor_username")
    def actor_display(self, obj):
        return f"{obj.actor_username or obj.actor_id} ({obj.actor_type})"

    @admin.display(description="leaf hash (base64)")
    def leaf_hash_b64(self, obj):
        return base64.b64encode(bytes(obj.leaf_hash)).decode()

    @admin.display(description="record (exact hashed bytes, pretty-printed)")
    def pretty_record(self, obj):
        return format_html(
            "<pre style='white-space:pre-wrap'>{}</pre>",
            json.dumps(obj.record_json, indent=2, ensure_ascii=False, sort_keys=True),
        )


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("size", "created_at", "key_names")
    fields = ("size", "created_at", "key_names", "note")
    readonly_fields = fields


@admin.register(AuditVerification)
class AuditVerificationAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "finished_at", "ok", "size", "checkpoints_checked", "first_bad_seq", "trigger")
    list_filter = ("ok", "trigger")
    readonly_fields = (
        "started_at",
        "finished_at",
        "ok",
        "size",
        "checkpoints_checked",
        "first_bad_seq",
        "message",
        "trigger",
    )


@admin.register(AuditPendingEvent)
class AuditPendingEventAdmin(ReadOnlyAdmin):
    """Events committed under ``AUDIT_SEQUENCING=deferred`` that the sequencer has not appended yet."""

    list_display = ("id", "created_at", "action", "target")
    fields = ("created_at", "fields")
    readonly_fields = fields

    @admin.display(description="action")
    def action(self, obj):
        return obj.parts["action"]

    @admin.display(description="target")
    def target(self, obj):
        target = obj.parts["object"]
        return f"{target.get('type')}:{target.get('id')}"

"""Read-only admin for the log: browse and filter, never change."""

from __future__ import annotations

import base64
import json
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib import admin
from django.contrib.admin.options import ShowFacets
from django.contrib.admin.views.main import PAGE_VAR
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from audit.context import ACTOR_TYPES
from audit.models import AuditCheckpoint, AuditEvent, AuditHead, AuditPendingEvent, AuditVerification
from audit.registry import EXTERNAL_NAMESPACE, service_event_types

STALE_CHECKPOINT_SECONDS = 15 * 60
MAX_FILTER_CHOICES = 200

if TYPE_CHECKING:  # django-stubs types these as generics; at run time they are not subscriptable
    _EventPaginator = Paginator[AuditEvent]
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _EventPaginator = Paginator
    _ModelAdmin = admin.ModelAdmin


class LogPaginator(_EventPaginator):
    """Pages of the log that never count the table (a 10M-entry log must page in milliseconds).

    Unfiltered, the number of entries is the head row's size (seq runs gaplessly from 0), and a
    page ordered by seq is a seq range (keyset: ``seq < size - offset``), so page 1 and page
    50,000 cost the same index probe. Filtered, the count is a lower bound found by reading at
    most ``LOOKAHEAD_PAGES`` pages of keys past the requested one (``is_lower_bound`` tells the
    template to say "more than"), so no query reads more than the pages around the one shown.
    """

    LOOKAHEAD_PAGES = 10

    def __init__(self, object_list: QuerySet[AuditEvent], per_page: int, *, page_number: int = 1, **kwargs: Any):
        super().__init__(object_list, per_page, **kwargs)
        self.queryset = object_list  # object_list, typed as the queryset it is
        self.page_number = max(page_number, 1)
        self.is_lower_bound = False

    @property
    def _unfiltered(self) -> bool:
        return not self.queryset.query.where

    @property
    def _seq_order(self) -> str | None:
        """``asc`` or ``desc`` when the pages are ordered by seq alone, else None."""
        order = [str(o) for o in self.queryset.query.order_by]
        if order and order[0] in ("seq", "pk"):
            return "asc"
        if order and order[0] in ("-seq", "-pk"):
            return "desc"
        return None

    @cached_property
    def count(self) -> int:
        if self._unfiltered:
            head = AuditHead.objects.filter(pk=1).only("size").first()
            return head.size if head else 0
        offset = (self.page_number - 1) * self.per_page
        window = self.per_page * self.LOOKAHEAD_PAGES
        found = len(self.queryset.values_list("pk", flat=True)[offset : offset + window + 1])
        if found > window:
            self.is_lower_bound = True
            return offset + window
        if found == 0 and offset:
            return offset  # past the end: page() refuses the number, as for any paginator
        return offset + found

    def page(self, number: int | str) -> Page[AuditEvent]:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        order = self._seq_order
        if self._unfiltered and order is not None:
            if order == "desc":
                rows = self.queryset.filter(seq__lt=self.count - bottom)[: self.per_page]
            else:
                rows = self.queryset.filter(seq__gte=bottom)[: self.per_page]
            # Paginator._get_page is Django's hook for the Page class to use; django-stubs omits it.
            page: Page[AuditEvent] = self._get_page(rows, number, self)  # type: ignore[attr-defined]
            return page
        return super().page(number)


def _distinct_by_index(column: str, limit: int = MAX_FILTER_CHOICES) -> list[str]:
    """The distinct values of an indexed column by a loose index scan (one index probe per value),
    never a pass over the table."""
    table = AuditEvent._meta.db_table
    sql = (
        f"WITH RECURSIVE t(v) AS ("
        f" SELECT MIN({column}) FROM {table}"
        f" UNION ALL"
        f" SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > t.v) FROM t WHERE t.v IS NOT NULL"
        f") SELECT v FROM t WHERE v IS NOT NULL LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [row[0] for row in cursor.fetchall()]


class ActionFilter(admin.SimpleListFilter):
    """The service's registered event types (``audit.registry``), its refusals and the events sent
    from outside: choices known without reading the log."""

    title = "action"
    parameter_name = "action"
    REFUSALS = "*.denied"
    EXTERNAL = f"{EXTERNAL_NAMESPACE}.*"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        choices = [(self.REFUSALS, "refusals (<action>.denied)"), (self.EXTERNAL, "sent by pipelines (external.*)")]
        return choices + [(action, action) for action in sorted(service_event_types())]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        if value == self.REFUSALS:  # the registered actions' refusals: probes of the action index
            return queryset.filter(action__in=[f"{action}.denied" for action in service_event_types()])
        if value == self.EXTERNAL:
            return queryset.filter(action__startswith=f"{EXTERNAL_NAMESPACE}.")
        return queryset.filter(action=value)


class ActorTypeFilter(admin.SimpleListFilter):
    title = "actor type"
    parameter_name = "actor_type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [(kind, kind) for kind in ACTOR_TYPES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(actor_type=self.value()) if self.value() else queryset


class ObjectTypeFilter(admin.SimpleListFilter):
    """Object types by a loose scan of the (object_type, object_id) index."""

    title = "object type"
    parameter_name = "object_type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [(kind, kind) for kind in _distinct_by_index("object_type")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(object_type=self.value()) if self.value() else queryset


class LogStatus(TypedDict):
    origin: str
    size: int
    pending: int
    checkpoint: AuditCheckpoint | None
    checkpoint_age_seconds: int | None
    unsigned_entries: int
    checkpoint_stale: bool
    verification: AuditVerification | None


def log_status() -> LogStatus:
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
        "checkpoint_stale": checkpoint is None
        or (head.size > checkpoint.size and age is not None and age > STALE_CHECKPOINT_SECONDS),
        "verification": verification,
    }


class ReadOnlyAdmin(_ModelAdmin):
    """For records that are only ever read in the admin (the log, signatures, history)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        """Only the actions an admin declares (each goes through its service); never the bulk delete."""
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "ts", "actor_display", "action", "object_type", "object_id", "request_id")
    # Nothing on this page reads the whole table (issue 15.5): the paginator never counts, the
    # filters' choices come from the registry, fixed lists or an index (no DISTINCT over the log),
    # there is no date hierarchy (it lists the distinct years/months of every row) and no facets.
    list_filter = (ActionFilter, ActorTypeFilter, ObjectTypeFilter, ("ts", admin.DateFieldListFilter))
    search_fields = ("=seq", "actor_username", "actor_id", "action", "object_id", "request_id")
    list_per_page = 100
    ordering = ("-seq",)  # newest first; filters and search narrow it down
    sortable_by = ("seq", "ts")  # indexed columns only
    show_facets = ShowFacets.NEVER
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

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "log_status": log_status()})

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> LogPaginator:
        try:
            number = int(request.GET.get(PAGE_VAR, 1))
        except ValueError:
            number = 1
        return LogPaginator(
            queryset, per_page, orphans=orphans, allow_empty_first_page=allow_empty_first_page, page_number=number
        )

    @admin.display(description="actor", ordering="actor_username")
    def actor_display(self, obj: AuditEvent) -> str:
        return f"{obj.actor_username or obj.actor_id} ({obj.actor_type})"

    @admin.display(description="leaf hash (base64)")
    def leaf_hash_b64(self, obj: AuditEvent) -> str:
        return base64.b64encode(bytes(obj.leaf_hash)).decode()

    @admin.display(description="record (exact hashed bytes, pretty-printed)")
    def pretty_record(self, obj: AuditEvent) -> SafeString:
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
    def action(self, obj: AuditPendingEvent) -> str:
        action: str = obj.parts["action"]
        return action

    @admin.display(description="target")
    def target(self, obj: AuditPendingEvent) -> str:
        target = obj.parts["object"]
        return f"{target.get('type')}:{target.get('id')}"

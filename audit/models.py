"""Storage of the tamper-evident log.

``AuditEvent.record`` holds the exact canonical bytes that were hashed; every other column of
the row is derived from those bytes for querying and is ignored by verification. Rows are
never updated or deleted: the model refuses it and database triggers (migration 0002) reject
UPDATE, DELETE and TRUNCATE.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Any, NoReturn

from django.db import models
from django.db.models.functions import Now


class AppendOnlyError(Exception):
    """Raised when code tries to change or remove an audit row."""


class AppendOnlyQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only: update() refused")

    def delete(self) -> NoReturn:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only: delete() refused")

    def bulk_update(self, objs: Iterable[Any], fields: Iterable[str], batch_size: int | None = None) -> NoReturn:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only: bulk_update() refused")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only: save over an existing row refused")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only: delete() refused")


class AuditHead(models.Model):
    """The single head row: size of the log, last leaf hash and the Merkle compact range.

    Appends lock this row (``SELECT ... FOR UPDATE``), which serialises them without gaps.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    origin = models.CharField(max_length=255, unique=True)
    size = models.BigIntegerField(default=0)
    last_leaf = models.BinaryField(max_length=32)
    compact_range = models.BinaryField(default=b"")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "audit log head"

    def __str__(self) -> str:
        return f"{self.origin} (size {self.size})"


class AuditEvent(AppendOnlyModel):
    seq = models.BigIntegerField(primary_key=True)
    record = models.BinaryField(help_text="Exact canonical JSON bytes that were hashed.")
    leaf_hash = models.BinaryField(max_length=32)
    # Derived from ``record`` for querying; verification ignores them and checks they match.
    ts = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=255, db_index=True)
    actor_username = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=128, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=255)
    request_id = models.CharField(max_length=128, db_index=True)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_event_object_idx")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"

    @property
    def record_json(self) -> dict[str, Any]:
        import json

        record: dict[str, Any] = json.loads(bytes(self.record))
        return record


class AuditPendingEvent(models.Model):
    """An event committed with its change but not yet in the log (``AUDIT_SEQUENCING=deferred``).

    ``fields`` holds the canonical JSON of the event's action, actor, context, data, target and
    (optional) reason, one per line (canonical JSON never contains a raw newline), made in the
    business transaction without taking the head lock. The sequencer (``audit.services.
    audit_pending_sequence``) later assigns ``seq`` and ``prev`` under the head lock, writes the
    ``AuditEvent`` (deriving its query columns from these fields) and deletes this row in the
    same transaction. Database triggers refuse UPDATE, and DELETE outside that transaction.
    """

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(db_default=Now())
    fields = models.TextField()

    # The lines of ``fields``, in order (``audit.services._pending_fields`` writes them).
    FIELD_NAMES = ("action", "actor", "ctx", "data", "object", "reason")

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = "audit event awaiting sequencing"
        verbose_name_plural = "audit events awaiting sequencing"

    def __str__(self) -> str:
        return f"pending event {self.id}"

    @cached_property
    def parts(self) -> dict[str, Any]:
        """The fields as JSON values, by name."""
        import json

        return dict(zip(self.FIELD_NAMES, (json.loads(line) for line in self.fields.split("\n")), strict=False))


class AuditTreeNode(AppendOnlyModel):
    """A complete Merkle subtree hash at level >= 1 (level 0 is ``AuditEvent.leaf_hash``)."""

    id = models.BigIntegerField(primary_key=True, help_text="audit.merkle.node_id(level, index)")
    hash = models.BinaryField(max_length=32)

    def __str__(self) -> str:
        return f"node {self.id}"


class AuditCheckpoint(AppendOnlyModel):
    """A signed checkpoint (C2SP tlog-checkpoint in a signed note), stored append-only."""

    size = models.BigIntegerField(primary_key=True)
    root = models.BinaryField(max_length=32)
    note = models.TextField()
    key_names = models.CharField(max_length=512)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-size"]

    def __str__(self) -> str:
        return f"checkpoint size {self.size}"


class AuditVerification(models.Model):
    """Result of one full verification run (operational record, not part of the log)."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)
    ok = models.BooleanField(null=True)
    size = models.BigIntegerField(default=0)
    checkpoints_checked = models.IntegerField(default=0)
    first_bad_seq = models.BigIntegerField(null=True)
    message = models.TextField(blank=True)
    trigger = models.CharField(max_length=32, default="manual")

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"verification {self.started_at:%Y-%m-%d %H:%M} {'PASS' if self.ok else 'FAIL'}"

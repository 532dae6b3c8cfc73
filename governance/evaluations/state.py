"""Replays evaluation events to rebuild evaluations' stored results, and ``reference_sample.create`` to
rebuild the registered reference samples (audit.state, ``audit_verify --state``).

Every evaluation event (``create``, ``start``, ``requeue``, ``complete``, ``fail``) carries the
evaluation's snapshot (``services._details``): what was measured, from which input, with which
parameters, and, once done, the metrics and the checks the gates read. The last event of each
evaluation is what its row must hold. A value too large for the record is carried as its SHA-256,
and the stored value is compared through the same digest. Each event also carries ``result_sha256``,
the SHA-256 of the whole stored ``result`` (per-group and per-feature detail included, as canonical
JSON, ``audit.state.json_sha256``); it is compared with the digest of the stored result, so an edit
anywhere in it is named as field ``result``. Events written before it was added lack it: an
evaluation whose last event lacks it is not checked on ``result`` beyond its input.
"""

from __future__ import annotations

import hashlib
import json

from audit.state import Divergence, as_recorded, compare_rows, json_sha256
from governance.evaluations.models import Evaluation, ReferenceSample

ACTIONS = ("evaluation.create", "evaluation.start", "evaluation.requeue", "evaluation.complete", "evaluation.fail")
# Fields of the record's snapshot that are stored as they are on the row.
FIELDS = (
    "kind",
    "dataset",
    "source",
    "status",
    "input_sha256",
    "input_rows",
    "params",
    "library_versions",
    "thresholds",
    "metrics",
    "checks",
    "failure_reason",
)
FAILURE_REASON_CHARS = 2000  # the record keeps the first 2,000 characters
INPUT_KEYS = ("format", "file_sha256", "reference_sample", "reference_sha256")


def _digest(value: object) -> dict:
    return {
        "sha256": hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest(),
        "omitted": "too large for the record",
    }


class EvaluationReplayer:
    name = "evaluations"
    actions = ACTIONS

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}

    def apply(self, record: dict) -> None:
        target, data = record["object"], record["data"]
        row = self.rows.setdefault(str(target["id"]), {})
        if record["action"] == "evaluation.create":  # what a new row holds until an event says otherwise
            row.update({"metrics": {}, "checks": [], "failure_reason": "", "warnings": 0})
        if "model_version" in target:
            row["model_version"] = str(target["model_version"])
        for name in FIELDS:
            if name in data:
                row[name] = data[name]
        if "input" in data:
            row["input"] = data["input"]
        if "warnings" in data:
            row["warnings"] = data["warnings"]
        if "result_sha256" in data:
            row["result"] = data["result_sha256"]
        else:  # an event written before it carried the digest: the result is not checked
            row.pop("result", None)

    def compare(self) -> Divergence | None:
        stored = {}
        for ev in Evaluation.objects.order_by("pk").iterator(chunk_size=500):
            key = str(ev.pk)
            expected = self.rows.get(key, {})
            row: dict[str, object] = {"model_version": str(ev.model_version_id)}
            for name in FIELDS:
                value = getattr(ev, name)
                if name == "failure_reason":
                    value = value[:FAILURE_REASON_CHARS]
                recorded = expected.get(name)
                if isinstance(recorded, dict) and set(recorded) == {"sha256", "omitted"}:
                    value = _digest(value)
                row[name] = as_recorded(value)
            inp = (ev.result or {}).get("input") or {}
            row["input"] = as_recorded({k: inp[k] for k in INPUT_KEYS if k in inp})
            row["warnings"] = len(ev.warnings or [])
            row["result"] = json_sha256(ev.result)
            stored[key] = row
        return compare_rows("evaluations_evaluation", stored, self.rows)


def _username(actor: dict) -> str | None:
    """The user an actor stands for (a person or a service account; a system job is no user)."""
    return actor.get("username") if actor.get("type") in ("user", "service") else None


# What ``reference_sample.create`` carries of a sample: every column. ``file``, ``columns`` and
# ``created_at`` were added to the event later: a sample whose event lacks them is not checked on them.
REFERENCE_FIELDS = ("model_version", "file", "file_format", "sha256", "columns", "rows", "created_by", "created_at")


class ReferenceSampleReplayer:
    name = "reference_samples"
    actions = ("reference_sample.create",)

    def __init__(self) -> None:
        self.samples: dict[str, dict] = {}

    def apply(self, record: dict) -> None:
        target, data = record["object"], record["data"]
        row = {
            "model_version": str(target.get("model_version")),
            "created_by": _username(record["actor"]),
            **{name: data[name] for name in REFERENCE_FIELDS if name in data},
        }
        self.samples[str(target["id"])] = row

    def compare(self) -> Divergence | None:
        stored = {}
        for s in ReferenceSample.objects.values(
            "pk",
            "model_version_id",
            "file",
            "file_format",
            "sha256",
            "columns",
            "rows",
            "created_by__username",
            "created_at",
        ):
            row = {**s, "model_version": str(s["model_version_id"]), "created_by": s["created_by__username"]}
            stored[str(s["pk"])] = {name: as_recorded(row[name]) for name in REFERENCE_FIELDS}
        return compare_rows("evaluations_referencesample", stored, self.samples)

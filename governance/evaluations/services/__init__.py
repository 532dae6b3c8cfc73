"""Evaluation rules: validate and digest inputs, compute (in the request or on a Celery worker),
record the result as evidence, and register reference samples for drift.

Every state change appends exactly one audit event in the same transaction (invariant 1):
``evaluation.create`` (status done for inputs computed in the request, queued otherwise),
``evaluation.start``, ``evaluation.complete``, ``evaluation.fail`` and ``reference_sample.create``.
Refused attempts are audited as ``evaluation.create.denied`` / ``reference_sample.create.denied``
with the reason and the field. Metrics computed here carry the SHA-256 of their inputs, the
library versions and the parameters used (invariant 6); reported metrics are stored as source
``reported`` and never as computed.

The computation core (``inputs``, ``fairness``, ``drift``, ``performance``, ``checks``) is pure
and is wrapped, not changed, here.

The rules are split by job: ``create`` (validate, digest, compute small inputs in the request and
store), ``run`` (the queued path and the state machine), ``reference`` (reference samples for drift),
``computation`` (the kernels wrapped) and ``common`` (what they share). Every public name is importable
from ``governance.evaluations.services``.
"""

from governance.evaluations.services.common import (
    COMPUTED_KINDS,
    FILE_FORMATS,
    FORMAT_BY_SUFFIX,
    MAX_AUDIT_DETAIL_BYTES,
    MAX_REASON,
    MAX_REPORTED_METRICS,
    MAX_THRESHOLDS,
    NAME_RE,
    OWN_COLUMNS,
    PARAMS_BY_KIND,
    POST_ROLES,
    evaluation_target,
    reference_sample_target,
)
from governance.evaluations.services.computation import compute
from governance.evaluations.services.create import EvaluationCreated, evaluation_create
from governance.evaluations.services.reference import reference_sample_register
from governance.evaluations.services.run import (
    evaluation_complete,
    evaluation_compute,
    evaluation_fail,
    evaluation_requeue,
    evaluation_run,
    evaluation_start,
)

__all__ = [
    "COMPUTED_KINDS",
    "FILE_FORMATS",
    "FORMAT_BY_SUFFIX",
    "MAX_AUDIT_DETAIL_BYTES",
    "MAX_REASON",
    "MAX_REPORTED_METRICS",
    "MAX_THRESHOLDS",
    "NAME_RE",
    "OWN_COLUMNS",
    "PARAMS_BY_KIND",
    "POST_ROLES",
    "EvaluationCreated",
    "compute",
    "evaluation_complete",
    "evaluation_compute",
    "evaluation_create",
    "evaluation_fail",
    "evaluation_requeue",
    "evaluation_run",
    "evaluation_start",
    "reference_sample_register",
    "reference_sample_target",
    "evaluation_target",
]

"""Celery tasks of the audit log: periodic checkpoints and the nightly verification."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from celery import shared_task

from audit.checkpoints import MIN_CHECKPOINT_INTERVAL, checkpoint_create
from audit.verification import record_verification

P = ParamSpec("P")
R = TypeVar("R", covariant=True)


class TypedTask(Protocol[P, R]):
    """What mypy knows of a Celery task (Celery ships no types): callable like the function, and
    queued with ``delay``/``apply_async``."""

    name: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> Any: ...

    def apply_async(self, args: tuple[Any, ...] | None = None, kwargs: dict[str, Any] | None = None) -> Any: ...


def audit_task(name: str) -> Callable[[Callable[P, R]], TypedTask[P, R]]:
    """``shared_task(name=name, ignore_result=True)`` with the task's signature kept for mypy."""

    def register(func: Callable[P, R]) -> TypedTask[P, R]:
        return cast(TypedTask[P, R], shared_task(name=name, ignore_result=True)(func))

    return register


@audit_task("audit.checkpoint_if_due")
def checkpoint_if_due() -> int | None:
    """Sign a checkpoint when the log grew, at most once per MIN_CHECKPOINT_INTERVAL."""
    checkpoint = checkpoint_create(min_interval=MIN_CHECKPOINT_INTERVAL)
    return checkpoint.size if checkpoint else None


@audit_task("audit.verify_log")
def verify_log(mode: str = "auto") -> bool:
    """Nightly verification: the entries since the last verified checkpoint plus a consistency proof,
    and a full pass when the last one is older than AUDIT_FULL_VERIFY_INTERVAL_DAYS (default 7); then
    the governed state against the log (audit.state). Failures raise an alert."""
    from audit.state import record_state_verification

    log_ok = bool(record_verification(trigger="nightly", mode=mode).ok)
    state_ok = bool(record_state_verification(trigger="nightly").ok)
    return state_ok and log_ok

"""Stale-job reapers of other apps, run by the evaluations reaper (``jobs.reap_stale``).

An app whose jobs a dead worker can leave stuck registers a reaper in its ``AppConfig.ready``
(reports: documentation packs), so the reaper runs it without importing that app.
"""

from __future__ import annotations

from collections.abc import Callable

# reaper(cutoff=datetime, stale=seconds, by=Principal, dry_run=bool) -> ids of the jobs it failed
Reaper = Callable[..., list[int]]
_reapers: dict[str, Reaper] = {}


def register_reaper(name: str, reaper: Reaper) -> None:
    _reapers[name] = reaper


def registered_reapers() -> dict[str, Reaper]:
    return dict(_reapers)


# --- re-dispatch of queued jobs -------------------------------------------------------------------------------
#
# A job's task is sent after the job's row commits (a domain event's handler). If the broker is
# unreachable at that moment the row commits ``queued`` and the send fails (logged): nothing is
# lost, the row is the job. ``jobs.redispatch_queued`` (Celery beat, every
# ``JOB_REDISPATCH_INTERVAL_SECONDS``) sends the task of every job still ``queued`` again, at ages
# that double from ``JOB_DISPATCH_GRACE_SECONDS`` (grace, 2 x grace, 4 x grace, ...), so a job whose
# message was lost is sent again within about one grace period of the broker coming back, and a job
# that merely waits behind a long queue gets a logarithmic number of duplicates, which the tasks'
# idempotency makes harmless (a finished job is left alone).

# redispatcher(due=Callable[[datetime], bool], by=Principal) -> ids of the jobs whose task it sent again
Redispatcher = Callable[..., list[int]]
_redispatchers: dict[str, Redispatcher] = {}


def register_redispatcher(name: str, redispatcher: Redispatcher) -> None:
    _redispatchers[name] = redispatcher


def registered_redispatchers() -> dict[str, Redispatcher]:
    return dict(_redispatchers)


def dispatch_due(age_seconds: float, *, grace: float, interval: float) -> bool:
    """Whether a job queued ``age_seconds`` ago is sent again by the sweep that runs now: its age
    crossed grace x 2**k (k = 0, 1, 2, ...) since the previous sweep, ``interval`` seconds ago."""
    if grace <= 0 or interval <= 0:
        raise ValueError("grace and interval must be positive")
    if age_seconds < grace:
        return False
    point = grace
    while point * 2 <= age_seconds:
        point *= 2
    return age_seconds - interval < point

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

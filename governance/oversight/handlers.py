"""What oversight does when something happens, wired in ``OversightConfig.ready``: a missed scheduled
monitoring check is e-mailed to the model's owner and the risk officers (a Celery task, after commit)."""

from __future__ import annotations

from governance.common.events import subscribe
from governance.oversight import tasks


def on_missed_check(*, missed_check_id: int, version_id: int) -> None:
    tasks.notify_missed_check.delay(missed_check_id)


def connect() -> None:
    subscribe("monitoring_check.missed", on_missed_check)

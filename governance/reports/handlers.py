"""What the reports app does after its own commits, wired in ``ReportsConfig.ready``."""

from __future__ import annotations

from governance.common.events import subscribe
from governance.reports import tasks


def on_pack_requested(*, pack_id: int, by: dict) -> None:
    """Generate a requested pack on a worker, under the request id and caller that requested it."""
    tasks.generate_pack.enqueue(by, pack_id)


def connect() -> None:
    subscribe("documentation_pack.requested", on_pack_requested)

"""The base class of every Celery task that writes audit events: it carries its context.

A task queued while handling a request runs, in the worker, under that request's id (origin
``celery``), so the task's audit events join the request that queued them and its caller; a task
started by Celery beat gets a fresh request id of its own. The caller (``Principal.as_context()``
of whoever queued the task) travels with the message and is ``self.caller`` in a bound task.

    @shared_task(base=ContextTask, bind=True, name="reports.generate_pack")
    def generate_pack(self, pack_id): ...

    generate_pack.enqueue(principal.as_context(), pack.pk)   # instead of .delay(pack.pk)

Plain ``.delay()`` still works (beat, the shell): the task then runs under a fresh request id.
"""

from __future__ import annotations

from typing import Any

from celery import Task

from audit.context import current_context, request_context

CONTEXT_KWARG = "_mlgov_context"


class ContextTask(Task):
    """Runs the task body under ``request_context(origin="celery")`` with the queuing request's id."""

    abstract = True
    typing = False  # the context travels as an extra keyword argument that __call__ removes

    def enqueue(self, caller: dict | None, *args: Any, **kwargs: Any):
        """Queue the task with the current request id and ``caller`` (a ``Principal.as_context()``)."""
        context = {"request_id": current_context().request_id, "caller": caller}
        return self.apply_async(args=args, kwargs={**kwargs, CONTEXT_KWARG: context})

    def __call__(self, *args: Any, **kwargs: Any):
        context = kwargs.pop(CONTEXT_KWARG, None) or {}
        previous = getattr(self, "_mlgov_caller", None)
        self._mlgov_caller = context.get("caller")
        try:
            with request_context(origin="celery", request_id=context.get("request_id")):
                return super().__call__(*args, **kwargs)
        finally:
            self._mlgov_caller = previous

    @property
    def caller(self) -> dict | None:
        """The ``Principal.as_context()`` of whoever queued this run (None for beat and plain ``delay``)."""
        return getattr(self, "_mlgov_caller", None)

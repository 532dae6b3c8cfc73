"""``/healthz``: database and broker status for load balancers and operators."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from governance.celery import app as celery_app


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT size, (SELECT count(*) FROM audit_auditpendingevent) FROM audit_audithead WHERE id = 1"
            )
            row = cursor.fetchone()
        # audit_pending: events committed under AUDIT_SEQUENCING=deferred and not yet in the log;
        # a number that keeps growing means no sequencer is running.
        return {
            "ok": True,
            "vendor": connection.vendor,
            "audit_log_size": row[0] if row else None,
            "audit_pending": row[1] if row else None,
        }
    except Exception as exc:  # report any failure as unhealthy
        return {"ok": False, "vendor": connection.vendor, "error": str(exc)[:200]}


def _broker() -> dict:
    if not settings.CELERY_BROKER_URL:
        return {"ok": True, "mode": "eager", "detail": "no broker configured: tasks run in the web process"}
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return {"ok": True, "mode": "broker", "transport": conn.transport_cls}
    except Exception as exc:  # report any failure as unhealthy
        return {"ok": False, "mode": "broker", "error": str(exc)[:200]}


@require_GET
def healthz(request):
    checks = {"database": _database(), "broker": _broker()}
    ok = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if ok else "unhealthy", **checks}, status=200 if ok else 503)

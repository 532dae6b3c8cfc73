"""The inventory-level report for model risk committees (issue 17, item 7).

Every registered model with its SR 11-7 tier, EU AI Act category, stage, last and next validation, open
findings by severity, review flags, gate overrides and serious incidents in the period, as of one date:
``report.json`` (RFC 8785 canonical), ``report.csv`` and ``report.pdf``, in an evidence bundle signed like
the packs' (:func:`governance.reports.bundle.write_signed_zip`; the same offline verifier checks it).

Reproducible: the date is turned into the last audit seq at or before its end (23:59:59.999999 UTC, or
now for today), and every row is rebuilt as of that seq the way packs are (mutable rows rolled back with
their audited updates, findings and incidents from their events up to the seq). The same date and period
therefore give byte-identical files however much the record has moved on, once the day is over.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from django.conf import settings
from reportlab.lib.pagesizes import landscape
from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Spacer

import governance
from audit import selectors as audit_selectors
from audit.selectors import AuditEvent
from audit.services import TS_FORMAT, audit_unit, parse_ts
from governance.accounts.principal import Principal
from governance.common.errors import PermissionRefused, ValidationFailed
from governance.common.refusals import refusals
from governance.registry.models import ModelVersion, RegisteredModel, Stage
from governance.reports import pdfstyle as ps
from governance.reports.bundle import evidence_members, file_sha256, write_signed_zip
from governance.reports.identity import canonical_pack_bytes, pack_content_hash
from governance.reports.oversight_record import oversight_record
from governance.reports.render.assembly import PACK_LANGUAGE, _make_canvas, _pdf_date
from governance.reports.render.base import Renderer, fmt
from governance.reports.snapshot import _model_as_of, _stage_as_of, covering_checkpoint
from governance.workflow.models import Approval, ReviewFlag

FORMAT = "mlgov.inventory/v1"
TITLE = "Model inventory report for the model risk committee"
DEFAULT_PERIOD_DAYS = 90
MAX_PERIOD_DAYS = 3 * 366
REPORT_ROLES = ("auditor", "risk_officer")

#: CSV columns, in order (docs/oversight.md, "Inventory report", says what each holds)
COLUMNS = (
    "model",
    "title",
    "risk_tier",
    "eu_ai_act_category",
    "status",
    "stage",
    "version",
    "last_validation",
    "last_conclusion",
    "next_validation_due",
    "validation_status",
    "open_findings_high",
    "open_findings_medium",
    "open_findings_low",
    "overdue_findings",
    "review_flags_open",
    "review_flags_raised",
    "revalidation_flags_open",
    "missed_checks_open",
    "overrides",
    "incidents",
    "incidents_unreported",
)

README = (
    "Inventory report {report_id}: {title}, as of {as_of} (audit seq {seq}, {ts}), period {start} to {end}.\n"
    "Verify offline with Python 3.11 and the cryptography package only: "
    "python verifier.py THIS_BUNDLE.zip --key YOUR_PINNED_KEY_FILE\n"
    "Pin the log's public key from your own trusted copy; keys.txt here is a convenience, not a trust anchor.\n"
    "PASS proves: report.pdf, report.csv and report.json match manifest.json, manifest.sig is signed by the pinned "
    "key, and each of the {n} cited audit entries is in the signed checkpoint (tree size {size}).\n"
    "PASS does not prove the statements are true, only that they are unchanged since the key holder signed them.\n"
)

_STAGE_ORDER: dict[str, int] = {Stage.PRODUCTION: 0, Stage.STAGING: 1, Stage.DEVELOPMENT: 2, Stage.RETIRED: 3}


@dataclass(frozen=True)
class InventoryReport:
    """A generated report: its id, what it covers and its three files plus the signed bundle (bytes)."""

    report_id: str
    as_of: str
    period_start: str
    seq: int
    document: dict
    pdf: bytes
    csv: bytes
    bundle: bytes

    def sha256(self, what: str) -> str:
        return hashlib.sha256(getattr(self, what)).hexdigest()


def _ts(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).strftime(TS_FORMAT) if moment else None


def _day(value, field: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValidationFailed(f"{field}: must be a date such as 2026-12-31", field=field) from exc


def _cutoff_event(as_of: dt.date, now: dt.datetime) -> AuditEvent:
    """The last audit entry at or before the end of ``as_of`` (UTC)."""
    end = dt.datetime.combine(as_of, dt.time.max, tzinfo=dt.UTC)
    event = audit_selectors.events().filter(ts__lte=min(end, now)).order_by("-seq").first()
    if event is None:
        raise ValidationFailed(f"as_of: the audit log has no entry by the end of {as_of.isoformat()}", field="as_of")
    return event


def build_inventory(as_of: dt.date, period_start: dt.date, now: dt.datetime) -> tuple[dict, list[AuditEvent]]:
    """The report document as of the end of ``as_of`` and the audit entries it rests on."""
    cutoff = _cutoff_event(as_of, now)
    seq, moment = cutoff.seq, parse_ts(cutoff.record_json["ts"])
    start = dt.datetime.combine(period_start, dt.time.min, tzinfo=dt.UTC)
    start_ts = _ts(start) or ""
    report_id = "inv-" + hashlib.sha256(f"{FORMAT}|{as_of}|{period_start}|{seq}".encode()).hexdigest()[:20]
    models = list(RegisteredModel.objects.filter(created_at__lte=moment).select_related("owner").order_by("name"))
    versions: dict[int, list[ModelVersion]] = {}
    for version in (
        ModelVersion.objects.filter(registered_at__lte=moment, model__in=models)
        .select_related("model", "registered_by")
        .order_by("registered_at", "id")
    ):
        versions.setdefault(version.model_id, []).append(version)
    flags = list(
        ReviewFlag.objects.filter(created_at__lte=moment, model_version__model__in=models).values(
            "model_version__model_id", "created_at", "resolved_at"
        )
    )
    overrides = list(
        Approval.objects.filter(signed_at__gte=start, signed_at__lte=moment, request__model_version__model__in=models)
        .exclude(override_justification="")
        .select_related("approver", "request__model_version__model")
        .order_by("signed_at", "id")
    )
    cited: dict[int, AuditEvent] = {cutoff.seq: cutoff}
    rows, override_rows, incident_rows = [], [], []
    for model in models:
        values = _model_as_of(model, seq)
        mine = versions.get(model.pk, [])
        stages = {v.pk: _stage_as_of(v, moment) for v in mine}
        lead = min(mine, key=lambda v: (_STAGE_ORDER.get(stages[v.pk], 9), -v.registered_at.timestamp()), default=None)
        open_findings = {"high": 0, "medium": 0, "low": 0}
        overdue = 0
        lead_record: dict = {}
        unreported = 0
        incidents = 0
        reval_flags = 0
        missed_open = 0
        for version in mine:
            record, events = oversight_record(version, {"version": {"stage": stages[version.pk]}}, seq, moment)
            cited.update((e.seq, e) for e in events)
            if version == lead:
                lead_record = record
            if stages[version.pk] != Stage.RETIRED:
                for severity, n in record["open_findings"].items():
                    open_findings[severity] += n
                overdue += len(record["overdue_findings"])
            reval_flags += sum(1 for f in record["revalidation"]["flags"] if not f["resolution"])
            missed_open += sum(1 for s in record["monitoring"] for m in s["missed_checks"] if m["open"])
            for incident in record["incidents"]:
                if incident["status"] in ("pending", "OVERDUE"):
                    unreported += 1
                if incident["aware_at"] >= start_ts:
                    incidents += 1
                    incident_rows.append(
                        {
                            "model": values["name"],
                            "version": version.version,
                            "id": incident["id"],
                            "aware_at": incident["aware_at"],
                            "rule": incident["rule"],
                            "reporting_deadline": incident["reporting_deadline"],
                            "status": incident["status"],
                        }
                    )
        model_flags = [f for f in flags if f["model_version__model_id"] == model.pk]
        mine_overrides = [a for a in overrides if a.request.model_version.model_id == model.pk]
        override_rows += [
            {
                "model": values["name"],
                "version": a.request.model_version.version,
                "request": f"PR-{a.request_id}",
                "approver": a.approver.username,
                "role": a.role,
                "signed_at": _ts(a.signed_at),
                "overridden_checks": ", ".join(str(c) for c in a.overridden_checks or []),
                "justification": a.override_justification,
            }
            for a in mine_overrides
        ]
        validations = [v for v in lead_record.get("validations", []) if v["completed_on"]]
        reval = lead_record.get("revalidation") or {}
        rows.append(
            {
                "model": values["name"],
                "title": values["title"],
                "risk_tier": values["risk_tier"],
                "eu_ai_act_category": values["eu_ai_act_category"],
                "status": values["status"],
                "stage": stages[lead.pk] if lead else "no version",
                "version": lead.version if lead else "",
                "last_validation": reval.get("last_validated") or "",
                "last_conclusion": max(validations, key=lambda v: v["completed_on"])["conclusion"]
                if validations
                else "",
                "next_validation_due": reval.get("next_due") or "",
                "validation_status": reval.get("status") or "",
                "open_findings_high": open_findings["high"],
                "open_findings_medium": open_findings["medium"],
                "open_findings_low": open_findings["low"],
                "overdue_findings": overdue,
                "review_flags_open": sum(
                    1 for f in model_flags if not (f["resolved_at"] and f["resolved_at"] <= moment)
                ),
                "review_flags_raised": sum(1 for f in model_flags if f["created_at"] >= start),
                "revalidation_flags_open": reval_flags,
                "missed_checks_open": missed_open,
                "overrides": len(mine_overrides),
                "incidents": incidents,
                "incidents_unreported": unreported,
            }
        )
    totals = {key: sum(r[key] for r in rows) for key in COLUMNS if rows and isinstance(rows[0][key], int)}
    document = {
        "format": FORMAT,
        "report_id": report_id,
        "title": TITLE,
        "as_of": {"date": as_of.isoformat(), "seq": seq, "ts": cutoff.record_json["ts"]},
        "period": {"start": period_start.isoformat(), "end": as_of.isoformat()},
        "generator": {"name": "mlgov", "version": governance.__version__},
        "organisation": settings.ORGANISATION_NAME,
        "columns": list(COLUMNS),
        "models": rows,
        "totals": {"models": len(rows), **totals},
        "overrides": override_rows,
        "incidents": sorted(incident_rows, key=lambda r: (r["aware_at"], r["model"], r["id"])),
    }
    return document, sorted(cited.values(), key=lambda e: e.seq)


def inventory_csv(document: Mapping) -> bytes:
    """One row per model, the columns of :data:`COLUMNS`; UTF-8, ``\\n`` line ends."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in document["models"]:
        writer.writerow([row[c] for c in COLUMNS])
    return out.getvalue().encode()


def _story(document: Mapping, r: Renderer) -> list:
    """What the PDF prints: what it covers, the totals, the table, overrides and incidents."""
    as_of = document["as_of"]
    story = [
        r.p(escape(TITLE), "cover_title"),
        r.kv_table(
            [
                ("Organisation", document["organisation"]),
                ("As of", f"end of {as_of['date']} (UTC): audit log sequence {as_of['seq']} at {as_of['ts']}"),
                (
                    "Period (overrides, incidents, review flags raised)",
                    f"{document['period']['start']} to {document['period']['end']}",
                ),
                ("Report id", document["report_id"]),
                ("Generator", f"{document['generator']['name']} {document['generator']['version']}"),
                ("Content hash (SHA-256 of report.json)", r.content_hash),
            ],
            hash_keys=("Content hash (SHA-256 of report.json)",),
            key_width=0.3,
        ),
        Spacer(1, 8),
    ]
    totals = document["totals"]
    story.append(
        r.plain(
            f"{totals['models']} model(s). Unresolved findings: {totals.get('open_findings_high', 0)} high, "
            f"{totals.get('open_findings_medium', 0)} medium, {totals.get('open_findings_low', 0)} low "
            f"({totals.get('overdue_findings', 0)} overdue). Open review flags: {totals.get('review_flags_open', 0)}; "
            f"open revalidation flags: {totals.get('revalidation_flags_open', 0)}; open missed monitoring checks: "
            f"{totals.get('missed_checks_open', 0)}. In the period: "
            f"{totals.get('overrides', 0)} gate override(s), {totals.get('incidents', 0)} serious incident(s); "
            f"{totals.get('incidents_unreported', 0)} incident(s) still owe their initial report."
        )
    )
    story.append(r.p("Models", "h2"))
    heads = [
        "Model",
        "Tier",
        "EU AI Act",
        "Stage (version)",
        "Last validation",
        "Next due",
        "Open findings H / M / L (overdue)",
        "Review flags open / raised",
        "Revalid. flags / missed checks open",
        "Overrides",
        "Incidents / unreported",
    ]
    data = [r.heads(*heads)]
    for m in document["models"]:
        data.append(
            [
                r.cell(f"{m['model']}\n{m['title']}" if m["title"] else m["model"]),
                r.cell(m["risk_tier"]),
                r.cell(m["eu_ai_act_category"]),
                r.cell(f"{m['stage']} ({m['version']})" if m["version"] else m["stage"]),
                r.cell(f"{m['last_validation']} {m['last_conclusion']}".strip() or "never"),
                r.cell(f"{m['next_validation_due']} {m['validation_status']}".strip()),
                r.cell(
                    f"{m['open_findings_high']} / {m['open_findings_medium']} / {m['open_findings_low']} "
                    f"({m['overdue_findings']})"
                ),
                r.cell(f"{m['review_flags_open']} / {m['review_flags_raised']}"),
                r.cell(f"{m['revalidation_flags_open']} / {m['missed_checks_open']}"),
                r.cell(m["overrides"]),
                r.cell(f"{m['incidents']} / {m['incidents_unreported']}"),
            ]
        )
    weights = [0.14, 0.06, 0.07, 0.1, 0.11, 0.12, 0.1, 0.08, 0.08, 0.07, 0.07]
    story += [r.table(data, [r.width * x for x in weights]), Spacer(1, 8)]
    story.append(r.p("Gate overrides in the period", "h2"))
    if document["overrides"]:
        data = [
            r.heads("Model / version", "Request", "Approver (role)", "Signed at", "Overridden checks", "Justification")
        ]
        for o in document["overrides"]:
            data.append(
                [
                    r.cell(f"{o['model']} {o['version']}"),
                    r.cell(o["request"]),
                    r.cell(f"{o['approver']} ({o['role']})"),
                    r.cell(o["signed_at"]),
                    r.cell(o["overridden_checks"]),
                    r.cell(o["justification"]),
                ]
            )
        story.append(r.table(data, [r.width * x for x in (0.16, 0.08, 0.16, 0.15, 0.15, 0.3)]))
    else:
        story.append(r.plain("No approver signed past a failing gate in the period."))
    story.append(r.p("Serious incidents in the period (EU AI Act Art. 73)", "h2"))
    if document["incidents"]:
        data = [r.heads("Model / version", "Incident", "Aware", "Rule", "Report due", "Status")]
        for i in document["incidents"]:
            data.append(
                [
                    r.cell(f"{i['model']} {i['version']}"),
                    r.cell(i["id"]),
                    r.cell(i["aware_at"]),
                    r.cell(i["rule"]),
                    r.cell(i["reporting_deadline"]),
                    r.cell(i["status"]),
                ]
            )
        story.append(r.table(data, [r.width * x for x in (0.2, 0.1, 0.18, 0.2, 0.18, 0.14)]))
    else:
        story.append(r.plain("No serious incident became known in the period."))
    story += [
        Spacer(1, 8),
        r.p(
            "Findings, validations, revalidation flags and incidents are as of the sequence above, rebuilt from their "
            "audit events; unresolved findings include risk acceptances that have expired. Stage and last/next "
            "validation are those of each model's lead version (the production version, else the newest). "
            "report.csv holds the same rows; report.json is the document this PDF was rendered from.",
            "small",
        ),
    ]
    return story


def render_inventory_pdf(document: Mapping, out_path: Path) -> None:
    """The report as a landscape PDF, laid out twice: the first pass counts the pages ("Page k of n")."""
    width, height = landscape(ps.page_size())
    r = Renderer(document, {"title": TITLE}, {})
    r.width = width - 2 * ps.MARGIN_X
    as_of = document["as_of"]
    total: dict = {}

    def on_page(canv, doc):
        canv.saveState()
        canv.setFont(ps.FONT, 7.5)
        canv.setFillColor(ps.GREY)
        y = ps.MARGIN_BOTTOM - 14
        canv.drawString(ps.MARGIN_X, y, f"Inventory report {document['report_id']} as of {as_of['date']}")
        canv.drawRightString(width - ps.MARGIN_X, y, f"Page {doc.page} of {total.get('pages', '?')}")
        canv.restoreState()

    class _Doc(BaseDocTemplate):
        def _endBuild(self):
            super()._endBuild()
            total["pages"] = self.page

    def build(target) -> None:
        doc = _Doc(
            target,
            pagesize=(width, height),
            leftMargin=ps.MARGIN_X,
            rightMargin=ps.MARGIN_X,
            topMargin=ps.MARGIN_TOP,
            bottomMargin=ps.MARGIN_BOTTOM,
            title=f"{TITLE} \u2014 as of {as_of['date']}",
            author=fmt(document["organisation"]),
            subject=f"inventory report {document['report_id']}",
            creator=f"{document['generator']['name']} {document['generator']['version']}",
            keywords=f"report_id={document['report_id']} sha256={r.content_hash}",
            invariant=1,
            initialFontName=ps.FONT,
            lang=PACK_LANGUAGE,
            displayDocTitle=1,
        )
        frame = Frame(
            ps.MARGIN_X,
            ps.MARGIN_BOTTOM,
            r.width,
            height - ps.MARGIN_TOP - ps.MARGIN_BOTTOM,
            id="body",
            leftPadding=0,
            rightPadding=0,
            topPadding=0,
            bottomPadding=0,
        )
        doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=on_page)])
        doc.build(_story(document, r), canvasmaker=_make_canvas(_pdf_date(as_of["ts"])))

    build(io.BytesIO())
    tmp = f"{out_path}.part"
    try:
        build(tmp)
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def inventory_report_generate(
    *, by: Principal, as_of=None, period_start=None, now: dt.datetime | None = None
) -> InventoryReport:
    """Build, render and sign the inventory report as of the end of ``as_of`` (default today) for the
    period from ``period_start`` (default ``as_of`` minus 90 days). Auditors and risk officers only;
    audited as ``inventory_report.generate`` with the files' SHA-256; refusals audited."""
    from django.utils import timezone

    now = now or timezone.now()
    with refusals(by, "inventory_report.generate", {"type": "inventory_report", "id": str(as_of or "today")[:32]}):
        if by.is_service_account or not by.has_role(*REPORT_ROLES):
            raise PermissionRefused("the inventory report is generated by auditors and risk officers")
        day = _day(as_of, "as_of") or timezone.localdate(now)
        if day > now.astimezone(dt.UTC).date():
            raise ValidationFailed("as_of: cannot be in the future", field="as_of")
        start = _day(period_start, "period_start") or day - dt.timedelta(days=DEFAULT_PERIOD_DAYS)
        if start > day:
            raise ValidationFailed("period_start: must be on or before as_of", field="period_start")
        if (day - start).days > MAX_PERIOD_DAYS:
            raise ValidationFailed(f"period_start: the period is at most {MAX_PERIOD_DAYS} days", field="period_start")
        document, events = build_inventory(day, start, now)
    checkpoint = covering_checkpoint(document["as_of"]["seq"])
    with tempfile.TemporaryDirectory(prefix="mlgov-inventory-") as workdir:
        pdf_path, bundle_path = Path(workdir) / "report.pdf", Path(workdir) / "report.zip"
        render_inventory_pdf(document, pdf_path)
        csv_bytes = inventory_csv(document)
        members: dict[str, bytes | Path] = {
            "report.pdf": pdf_path,
            "report.csv": csv_bytes,
            "report.json": canonical_pack_bytes(document),
            **evidence_members(events, checkpoint),
            "README.md": README.format(
                report_id=document["report_id"],
                title=TITLE,
                as_of=document["as_of"]["date"],
                seq=document["as_of"]["seq"],
                ts=document["as_of"]["ts"],
                start=document["period"]["start"],
                end=document["period"]["end"],
                n=len(events),
                size=checkpoint.size,
            ).encode(),
        }
        bundle_sha = write_signed_zip(out_path=bundle_path, members=members, ts=document["as_of"]["ts"])
        report = InventoryReport(
            report_id=document["report_id"],
            as_of=document["as_of"]["date"],
            period_start=document["period"]["start"],
            seq=document["as_of"]["seq"],
            document=document,
            pdf=pdf_path.read_bytes(),
            csv=csv_bytes,
            bundle=bundle_path.read_bytes(),
        )
    with audit_unit(by.actor) as audit:
        audit.add(
            "inventory_report.generate",
            {"type": "inventory_report", "id": report.report_id},
            details={
                "as_of": report.as_of,
                "as_of_seq": report.seq,
                "period_start": report.period_start,
                "models": document["totals"]["models"],
                "content_sha256": pack_content_hash(document),
                "pdf_sha256": report.sha256("pdf"),
                "csv_sha256": file_sha256(csv_bytes),
                "bundle_sha256": bundle_sha,
                "cited_events": len(events),
            },
        )
    return report


__all__ = ["InventoryReport", "inventory_report_generate", "build_inventory", "inventory_csv", "COLUMNS"]

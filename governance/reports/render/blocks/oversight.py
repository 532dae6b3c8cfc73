"""Blocks that print the ongoing model risk management record (``pack["oversight"]``, built by
:mod:`governance.reports.oversight_record`): validation history with findings, ongoing monitoring and
missed checks, the effective-challenge record, the post-market monitoring plan and the serious-incident
register. Where a part of that record is not kept for the version, the block prints NOT PROVIDED with
who must provide it."""

from __future__ import annotations

from xml.sax.saxutils import escape

from reportlab.platypus import Spacer

from governance.reports import numbers as num
from governance.reports import pdfstyle as ps
from governance.reports.render.base import NOT_PROVIDED, esc, fmt
from governance.reports.render.registry import block


def _record(ctx) -> dict:
    return ctx.pack.get("oversight") or {}


def _not_provided(ctx, what: str, who: str, where: str) -> list:
    content = [
        ctx.p(f"{NOT_PROVIDED}: {escape(what)}", "missing"),
        ctx.p(f"<b>Who must provide it:</b> {escape(who)}", "missing_help"),
        ctx.p(f"<b>Where:</b> {escape(where)}", "missing_help"),
    ]
    return [Spacer(1, 3), ctx.box(content, bg=ps.MISSING_BG, border=ps.MISSING_BORDER), Spacer(1, 6)]


def _flag_style(rows: list[int], col_from: int = 0) -> list:
    return [("BACKGROUND", (col_from, i), (-1, i), ps.WARN_BG) for i in rows]


@block("validation_history")
def validation_history(ctx):
    """Revalidation schedule, every validation of the version and every finding with its status as of
    the pack's seq (overdue and expired risk acceptances marked)."""
    rec = _record(ctx)
    reval = rec.get("revalidation") or {}
    w = ctx.width
    out = [
        ctx.p("Revalidation schedule", "h3"),
        ctx.kv_table(
            [
                (
                    "Revalidation interval",
                    f"{fmt(reval.get('interval_months'))} months ({fmt(reval.get('interval_source'))})",
                ),
                ("Last completed validation", reval.get("last_validated")),
                ("Next validation due", reval.get("next_due")),
                (f"Status on {fmt(rec.get('as_of_date'))}", reval.get("status")),
                (
                    "Revalidation flags",
                    "; ".join(
                        f"raised {f['raised_at']} (due {f['due_on']}): "
                        + (f"resolved, {f['resolution']}" if f.get("resolution") else "OPEN")
                        for f in reval.get("flags") or []
                    )
                    or "none raised",
                ),
            ],
            key_width=0.32,
        ),
        Spacer(1, 6),
        ctx.p("Validations", "h3"),
    ]
    validations = rec.get("validations") or []
    if not validations:
        out.append(ctx.plain("No validation of this version is recorded in this service."))
    else:
        data = [ctx.heads("ID", "Validator", "Started", "Completed", "Conclusion", "Scope and summary", "Findings")]
        for v in validations:
            text = esc(v.get("scope"))
            if v.get("summary"):
                text += f"<br/><i>{esc(v.get('summary'))}</i>"
            data.append(
                [
                    ctx.cell(v.get("id")),
                    ctx.cell(v.get("validator")),
                    ctx.cell(v.get("started_on")),
                    ctx.cell(v.get("completed_on")),
                    ctx.p(f"<b>{esc(v.get('conclusion'))}</b>", "cell"),
                    ctx.p(text, "cell"),
                    ctx.cell(v.get("findings")),
                ]
            )
        out += [ctx.table(data, [0.08 * w, 0.15 * w, 0.11 * w, 0.11 * w, 0.12 * w, 0.31 * w, 0.12 * w]), Spacer(1, 6)]
    findings = rec.get("findings") or []
    out.append(ctx.p("Findings and their status", "h3"))
    if not findings:
        out.append(ctx.plain("No validation findings are recorded in this service for this version."))
        return out
    opened = rec.get("open_findings") or {}
    overdue = rec.get("overdue_findings") or []
    out.append(
        ctx.plain(
            f"{len(findings)} finding(s); unresolved: {opened.get('high', 0)} high, {opened.get('medium', 0)} medium, "
            f"{opened.get('low', 0)} low; overdue on {fmt(rec.get('as_of_date'))}: "
            + (", ".join(overdue) if overdue else "none")
            + "."
        )
    )
    data = [ctx.heads("ID", "Severity", "Description and evidence", "Owner", "Due", "Status and answer")]
    marked = []
    for i, f in enumerate(findings, start=1):
        desc = esc(f.get("description"))
        if f.get("evidence"):
            desc += f"<br/><i>Evidence: {esc(f.get('evidence'))}</i>"
        status = f"<b>{esc(f.get('status'))}</b>"
        if f.get("overdue"):
            status += "<br/><font color='#A4231B'><b>OVERDUE</b></font>"
        if f.get("answer"):
            status += f"<br/>{esc(f.get('answer'))} <i>({esc(f.get('answered_by'))}, {esc(f.get('answered_at'))})</i>"
        data.append(
            [
                ctx.cell(f.get("id")),
                ctx.cell(f.get("severity")),
                ctx.p(desc, "cell"),
                ctx.cell(f.get("owner")),
                ctx.cell(f.get("due_date")),
                ctx.p(status, "cell"),
            ]
        )
        if f.get("overdue"):
            marked.append(i)
    out += [
        ctx.table(data, [0.08 * w, 0.09 * w, 0.3 * w, 0.14 * w, 0.11 * w, 0.28 * w], extra=_flag_style(marked)),
        Spacer(1, 6),
    ]
    return out


def _schedule_rows(ctx, schedules: list[dict], *, version_column: bool) -> list:
    w = ctx.width
    heads = ["Schedule", "Check and terms", "Responsible", "Status", "Received / missed", "Next due"]
    data = [ctx.heads(*(["Version"] if version_column else []), *heads)]
    for s in schedules:
        terms = f"{esc(s.get('kind'))} every {esc(s.get('cadence_days'))} day(s), {esc(s.get('grace_hours'))} h grace"
        terms += f"<br/>from {esc(s.get('starts_at'))}"
        if s.get("description"):
            terms += f"<br/><i>{esc(s.get('description'))}</i>"
        row = [
            ctx.cell(s.get("id")),
            ctx.p(terms, "cell"),
            ctx.cell(s.get("responsible")),
            ctx.cell(s.get("status")),
            ctx.cell(f"{fmt(s.get('received'))} / {fmt(s.get('missed'))}"),
            ctx.cell(s.get("next_due_at")),
        ]
        data.append(([ctx.cell(s.get("version"))] if version_column else []) + row)
    widths = [0.1, 0.3, 0.14, 0.16, 0.12, 0.18]
    if version_column:
        widths = [0.08, 0.09, 0.29, 0.13, 0.15, 0.1, 0.16]
    return [ctx.table(data, [w * x for x in widths]), Spacer(1, 6)]


@block("ongoing_monitoring")
def ongoing_monitoring(ctx) -> list:
    """Scheduled monitoring checks of the version, each period's result and the missed checks."""
    schedules = _record(ctx).get("monitoring") or []
    out = [ctx.p("Monitoring schedule and missed checks", "h3")]
    if not schedules:
        return out + _not_provided(
            ctx,
            "monitoring schedule of this version, its results and missed checks",
            "a risk officer or validator (sets the schedule) and the model owner's pipelines (post the scheduled "
            "drift and performance checks)",
            "the monitoring schedules of this version (oversight API and admin); the evaluations listed in this "
            "section are the monitoring evidence held so far",
        )
    missed = sum(s.get("missed") or 0 for s in schedules)
    open_flags = sum(1 for s in schedules for m in s.get("missed_checks") or [] if m.get("open"))
    out.append(
        ctx.plain(
            f"{len(schedules)} monitoring schedule(s) of this version; {missed} scheduled check(s) missed, "
            f"{open_flags} missed-check flag(s) open, as of this pack's sequence."
        )
    )
    out += _schedule_rows(ctx, schedules, version_column=False)
    w = ctx.width
    for s in schedules:
        data = [ctx.heads("Check due", "Result", "Evaluation")]
        marked = []
        for i, p in enumerate(s.get("periods") or [], start=1):
            data.append([ctx.cell(p.get("due_at")), ctx.cell(p.get("status")), ctx.cell(p.get("evaluation"))])
            if p.get("status") == "missed":
                marked.append(i)
        out += [
            ctx.p(f"{escape(str(s.get('id')))}: latest checks", "h3"),
            ctx.table(data, [0.4 * w, 0.3 * w, 0.3 * w], extra=_flag_style(marked)),
            Spacer(1, 4),
        ]
        flagged = s.get("missed_checks") or []
        if flagged:
            data = [ctx.heads("Missed check due", "Flagged", "Status")]
            for m in flagged:
                data.append([ctx.cell(m.get("due_at")), ctx.cell(m.get("flagged_at")), ctx.cell(m.get("status"))])
            out += [ctx.table(data, [0.3 * w, 0.3 * w, 0.4 * w]), Spacer(1, 6)]
    return out


def _challenge_text(ctx, row: dict) -> str:
    """The challenge; a review flag's breaches with their numbers by the pack's number rule, each ratio
    with the favourable outcome it is computed on."""
    text = esc(row.get("challenge"))
    ev = next((e for e in ctx.evaluations if e.get("id") == row.get("evaluation")), None)
    for b in row.get("breaches") or []:
        value = num.metric(b.get("metric"), b.get("value"))
        text += (
            f"<br/>{esc(ctx._metric_label(ev, b.get('metric')))} = {escape(value)} "
            f"(threshold {esc(b.get('comparator'))} {escape(num.threshold(b.get('threshold')))})"
        )
    return text


@block("effective_challenge")
def effective_challenge(ctx) -> list:
    """Who challenged what, and the answer: findings, gate overrides, rejections and review flags."""
    rows = _record(ctx).get("challenges") or []
    if not rows:
        return [ctx.plain("No challenge is recorded: no finding, override, rejection or review flag for this version.")]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["kind"]] = counts.get(r["kind"], 0) + 1
    w = ctx.width
    data = [ctx.heads("When", "Kind / ref", "Challenged by", "What", "Answer")]
    for r in rows:
        answer = esc(r.get("answer"))
        if r.get("answered_by"):
            answer += f"<br/><i>by {esc(r.get('answered_by'))}</i>"
        data.append(
            [
                ctx.cell(r.get("at")),
                ctx.p(f"{esc(r.get('kind'))}<br/>{esc(r.get('ref'))}", "cell"),
                ctx.cell(r.get("challenger")),
                ctx.p(_challenge_text(ctx, r), "cell"),
                ctx.p(answer, "cell"),
            ]
        )
    return [
        ctx.p("Effective-challenge record", "h3"),
        ctx.plain(
            f"{len(rows)} challenge(s): "
            + ", ".join(f"{n} {k}(s)" for k, n in sorted(counts.items()))
            + ". Each row is from the record (findings, approvals, review flags) as of this pack's sequence."
        ),
        ctx.table(data, [0.15 * w, 0.13 * w, 0.18 * w, 0.27 * w, 0.27 * w]),
        Spacer(1, 6),
    ]


#: the plan's narrative fields (governance.oversight.models.PLAN_FIELDS) with their printed labels
PLAN_LABELS = (
    ("monitored", "What is monitored"),
    ("data_collection", "How data on performance in use is collected"),
    ("responsibilities", "Who monitors, reviews and acts"),
    ("thresholds", "Thresholds and the actions when one is crossed"),
    ("review_cadence", "How often the plan is reviewed"),
)


@block("pmm_plan")
def pmm_plan(ctx) -> list:
    """The post-market monitoring plan (Art. 72; Annex IV point 9): its text as of the pack's seq, and the
    monitoring schedules that carry it out (what, how often, by whom)."""
    plan = _record(ctx).get("pmm_plan")
    out = [ctx.p("Post-market monitoring plan (recorded)", "h3")]
    if not plan:
        category = ((ctx.pack.get("model") or {}).get("eu_ai_act") or {}).get("category")
        if category and not str(category).startswith("high"):
            return out + [
                ctx.plain(
                    f"No plan is recorded. A post-market monitoring plan is kept for high-risk systems (Art. 72); "
                    f"this system is registered as {category}."
                )
            ]
        return out + _not_provided(
            ctx,
            "post-market monitoring plan record of this system (what is monitored, how often, by whom, thresholds)",
            "the risk officer, for each high-risk model",
            "the post-market monitoring plan of this model (oversight API and admin); the plan's narrative is "
            "the statement below",
        )
    narrative = plan.get("narrative") or {}
    rows = [
        (
            "Revision",
            f"{fmt(plan.get('revision'))}, written {fmt(plan.get('updated_at'))} by {fmt(plan.get('updated_by'))}",
        )
    ]
    rows += [(label, fmt(narrative.get(key))) for key, label in PLAN_LABELS]
    out += [ctx.kv_table(rows, key_width=0.3), Spacer(1, 6)]
    schedules = plan.get("schedules") or []
    out.append(ctx.p("Monitoring schedules carrying out the plan", "h3"))
    if not schedules:
        out += _not_provided(
            ctx,
            "monitoring schedule of this system (the plan's checks are not scheduled)",
            "a risk officer or validator",
            "the monitoring schedules of the production version (oversight API and admin)",
        )
    else:
        out += _schedule_rows(ctx, schedules, version_column=True)
    out.append(
        ctx.plain("The thresholds the promotion and production gates apply are the policy's checks in section 4.")
    )
    return out


@block("incident_register")
def incident_register(ctx):
    """Serious incidents of this version with their Art. 73 deadline and reports."""
    incidents = _record(ctx).get("incidents") or []
    if not incidents:
        return [ctx.plain("No serious incident of this version is recorded in this service.")]
    w = ctx.width
    data = [ctx.heads("ID", "What happened", "Aware", "Rule and deadline", "Status", "Reports")]
    marked = []
    for i, inc in enumerate(incidents, start=1):
        what = (
            f"{esc(inc.get('description'))}<br/><i>Affected: {esc(inc.get('affected_persons'))}</i>"
            f"<br/><i>Causal link: {esc(inc.get('causal_link'))}</i>"
        )
        reports = "<br/>".join(
            f"{esc(r.get('kind'))} {esc(r.get('submitted_at'))} to {esc(r.get('authority'))}"
            + (f" (ref. {esc(r.get('reference'))})" if r.get("reference") else "")
            for r in inc.get("reports") or []
        )
        data.append(
            [
                ctx.cell(inc.get("id")),
                ctx.p(what, "cell"),
                ctx.cell(inc.get("aware_at")),
                ctx.p(f"{esc(inc.get('rule'))}<br/>due {esc(inc.get('reporting_deadline'))}", "cell"),
                ctx.p(f"<b>{esc(inc.get('status'))}</b>", "cell"),
                ctx.p(reports or "none yet", "cell"),
            ]
        )
        if inc.get("status") in ("OVERDUE", "reported late"):
            marked.append(i)
    return [
        ctx.p("Serious-incident register (Art. 73)", "h3"),
        ctx.plain(
            f"{len(incidents)} serious incident(s) of this version. The deadline runs from when the provider "
            "became aware; status as of this pack's sequence."
        ),
        ctx.table(data, [0.08 * w, 0.31 * w, 0.13 * w, 0.16 * w, 0.12 * w, 0.2 * w], extra=_flag_style(marked)),
        Spacer(1, 6),
    ]

"""Blocks that print the governance record: approvals and overrides, the separation check, stage
history and the policy applied."""

from __future__ import annotations

from xml.sax.saxutils import escape

from reportlab.platypus import Spacer

from governance.reports import numbers as num
from governance.reports import pdfstyle as ps
from governance.reports.render.base import (
    NOT_PROVIDED,
    _same_person,
    esc,
    fmt,
    gate_overrides,
)
from governance.reports.render.registry import block


def _fairness_ev(ctx) -> dict:
    return next((e for e in ctx.evaluations if e.get("favourable_outcome")), {})


def _justification(ctx, approval, failing):
    """The signer's words unchanged; beside them, when they claim thresholds are met while the
    service's own computation fails, the metrics that fail (the pack never repeats such a claim)."""
    text = escape(fmt(approval.get("justification")))
    if failing and "threshold" in (approval.get("justification") or "").lower():
        text += (
            "<br/><font color='#A4231B'><b>Note:</b> the computed value fails its threshold for "
            + escape(", ".join(failing))
            + " (see the executive summary).</font>"
        )
    return ctx.p(text, "cell")


def _reauthentication(reauth) -> str:
    """How the signer proved who they were at the moment of signing (workflow Approval.reauthentication)."""
    reauth = reauth or {}
    if reauth.get("method") == "oidc_step_up":
        return (
            f"<br/><i>step-up sign-in at {esc(reauth.get('provider'))}, subject {esc(reauth.get('subject'))}, "
            f"auth_time {esc(reauth.get('auth_time'))}</i>"
        )
    if reauth.get("method") == "password":
        return "<br/><i>password re-entered</i>"
    return ""


@block("approval_chain")
def approval_chain(ctx):
    approvals = ctx.pack.get("approvals") or []
    if not approvals:
        return [ctx.plain("No approvals are recorded for this model version.")]
    failing = [
        r["metric"] for r in (ctx.pack.get("evidence") or {}).get("rows") or [] if r.get("computed_passes") is False
    ]
    w = ctx.width
    data = [
        ctx.heads(
            "Request / target", "Approver and role", "Signed at", "Decision", "Signature meaning", "Justification"
        )
    ]
    extra = []
    for i, a in enumerate(approvals, start=1):
        decision = f"<b>{esc(a.get('decision'))}</b>"
        if a.get("invalidated"):
            decision += "<br/>(invalidated)"
        if a.get("override_justification"):
            decision += "<br/><b>OVERRIDE</b>"
        data.append(
            [
                ctx.p(f"{esc(a.get('request_id'))}<br/>to {esc(a.get('target_stage'))}", "cell"),
                ctx.p(f"{esc(a.get('approver'))}<br/><i>{esc(a.get('role'))}</i>", "cell"),
                ctx.p(f"{esc(a.get('signed_at'))}{_reauthentication(a.get('reauthentication'))}", "cell"),
                ctx.p(decision, "cell"),
                ctx.cell(a.get("signature_meaning")),
                _justification(ctx, a, failing),
            ]
        )
        if a.get("override_justification"):
            extra.append(("BACKGROUND", (0, i), (-1, i), ps.WARN_BG))
        if a.get("invalidated"):
            extra.append(("TEXTCOLOR", (0, i), (-1, i), ps.GREY))
    out = [
        ctx.p("Approval chain", "h3"),
        ctx.table(data, [0.12 * w, 0.21 * w, 0.15 * w, 0.12 * w, 0.17 * w, 0.23 * w], extra=extra, zebra=False),
        Spacer(1, 6),
    ]
    for a in approvals:
        if a.get("override_justification"):
            out += [
                ctx.box(
                    [
                        ctx.p(
                            f"<b>OVERRIDE</b> \u2014 {esc(a.get('approver'))} ({esc(a.get('role'))}) "
                            f"on request {esc(a.get('request_id'))}, {esc(a.get('signed_at'))}",
                            "note",
                        ),
                        ctx.p("Override justification: " + esc(a.get("override_justification")), "note"),
                    ],
                    bg=ps.WARN_BG,
                    border=ps.WARN_BORDER,
                ),
                Spacer(1, 6),
            ]
    return out


@block("independence_check")
def independence_check(ctx):
    m, v = ctx.pack.get("model") or {}, ctx.pack.get("version") or {}
    owner = m.get("owner")
    developer = m.get("developer") or v.get("registered_by")
    developers = {x for x in (m.get("developer"), v.get("registered_by"), owner) if x}
    validators = ctx._validators()
    rows = [
        ("Model owner", owner),
        ("Developer (registered the version)", developer),
    ]
    out = []
    if owner and developer and _same_person(owner, developer):
        rows.append(("Owner and developer", "FLAG: the same person is owner and developer"))
    if not validators:
        rows.append(("Validators (from approvals)", None))
        rows.append(("Separation-of-accounts check", "not run: no validator approval is recorded"))
        return [ctx.kv_table(rows), Spacer(1, 6)]
    clash = [x for x in validators if any(_same_person(x, d) for d in developers)]
    rows += [
        ("Validators (from approvals)", ", ".join(validators)),
        (
            "Separation-of-accounts check",
            "FAILED: a validator is also the developer, registrant or owner: " + ", ".join(clash)
            if clash
            else "passed: no validator is the same user account as the developer, registrant or owner",
        ),
    ]
    out += [
        ctx.kv_table(rows),
        ctx.p(
            "This check compares user accounts only. It does not establish the independence that SR 11-7 \u00a7V "
            "(independence) describes (validation by people who are not responsible for development or use and "
            "have no stake in whether the model is found valid, with appropriate incentives, competence and "
            "influence); that is the validator's statement below.",
            "small",
        ),
        Spacer(1, 6),
    ]
    return out


@block("stage_history")
def stage_history(ctx):
    hist = ctx.pack.get("stage_history") or []
    this = (ctx.pack.get("version") or {}).get("version")
    mine = [h for h in hist if h.get("version") in (None, this)]
    others = [h for h in hist if h.get("version") not in (None, this)]
    out = [ctx.p(f"Stage history of version {esc(this)}", "h3")]
    if mine:
        out.append(ctx.plain(f"{len(mine)} stage transition(s) of version {this}."))
    out += ctx._stage_table(mine, f"No stage transitions of version {this} are recorded.")
    if others:
        out.append(ctx.p("Stage history of the model's other versions (context)", "h3"))
        out.append(ctx.plain(f"{len(others)} stage transition(s) of other versions."))
        out += ctx._stage_table(others, "")
    return out


@block("policy_summary")
def policy_summary(ctx):
    pol = ctx.pack.get("policy")
    if not pol:
        return [ctx.plain("No policy is recorded as applied to this version.")]
    out = [
        ctx.p("Policy applied", "h3"),
        ctx.kv_table(
            [
                ("Policy", pol.get("name")),
                ("Policy version", pol.get("version")),
                ("Applied at", pol.get("applied_at")),
                ("Required approvals", pol.get("required_approvals")),
            ]
        ),
        Spacer(1, 4),
    ]
    checks = pol.get("checks") or []
    if checks:
        w = ctx.width
        data = [ctx.heads("Check", "Kind", "Metric", "Threshold", "Source and justification of the threshold")]
        for c in checks:
            if c.get("source") or c.get("justification"):
                origin = ctx.p(
                    escape(fmt(c.get("source")))
                    + (f"<br/><i>{escape(c['justification'])}</i>" if c.get("justification") else ""),
                    "cell",
                )
            else:
                origin = ctx.p(f"<font color='#B3261E'><b>{NOT_PROVIDED}</b></font>: nobody gave one", "cell")
            data.append(
                [
                    ctx.cell(c.get("id")),
                    ctx.cell(c.get("kind")),
                    ctx.cell(ctx._metric_label(_fairness_ev(ctx), c.get("metric"))),
                    f"{fmt(c.get('comparator'))} {num.threshold(c.get('threshold'))}",
                    origin,
                ]
            )
        out += [ctx.table(data, [0.13 * w, 0.13 * w, 0.22 * w, 0.12 * w, 0.4 * w]), Spacer(1, 6)]
    return out


@block("overrides_summary")
def overrides_summary(ctx):
    """Overrides, kept apart: governance overrides (an approver signing past a failing gate, from
    the approval records) and business overrides (a person overriding a model output in use,
    which only a deployment can post)."""
    gov = gate_overrides(ctx.pack)
    rows = [
        (
            "Gate overrides by approvers (governance)",
            f"{len(gov)}: " + "; ".join(f"{a.get('request_id')} by {a.get('approver')}" for a in gov)
            if gov
            else "0: no approver signed past a failing gate",
        ),
        (
            "Overrides of model outputs in use (business)",
            "not held: the deployment posts no operating records to this service, so overrides of "
            "individual scores are not recorded here",
        ),
    ]
    return [ctx.kv_table(rows, key_width=0.36), Spacer(1, 6)]

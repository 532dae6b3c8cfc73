"""Replays oversight events to rebuild validations and their findings (audit.state,
``audit_verify --state``). The other oversight tables (revalidation intervals and flags, serious
incidents and their reports, monitoring schedules, missed checks, post-market plans) have no
replayer yet."""

from __future__ import annotations

from audit.state import Divergence, as_recorded, compare_rows
from governance.oversight.models import Finding, Validation


def _user(actor: dict) -> str | None:
    return actor.get("username") if actor.get("type") == "user" else None


class OversightReplayer:
    name = "oversight"
    actions = (
        "validation.start",
        "validation.complete",
        "finding.create",
        "finding.propose_remediation",
        "finding.close",
        "finding.accept_risk",
    )

    def __init__(self) -> None:
        self.validations: dict[str, dict] = {}
        self.findings: dict[str, dict] = {}

    def apply(self, record: dict) -> None:
        action, target, data = record["action"], record["object"], record["data"]
        key = str(target["id"])
        reason = record.get("reason") or ""
        if action == "validation.start":
            self.validations[key] = {
                "model": target.get("model"),
                "version": target.get("version"),
                "validator": data.get("validator"),
                "scope": data.get("scope"),
                "started_on": data.get("started_on"),
                "completed_on": None,
                "conclusion": "",
                "summary": "",
                "created_by": _user(record["actor"]) or data.get("validator"),
            }
        elif action == "validation.complete":
            self.validations.setdefault(key, {}).update(
                {"completed_on": data.get("completed_on"), "conclusion": data.get("conclusion"), "summary": reason}
            )
        elif action == "finding.create":
            self.findings[key] = {
                "validation": str(target.get("validation")),
                "severity": data.get("severity"),
                "owner": data.get("owner"),
                "due_date": data.get("due_date"),
                "evidence_evaluations": data.get("evidence_evaluations") or [],
                "evidence_audit_seqs": data.get("evidence_audit_seqs") or [],
                "status": "open",
                "remediation": "",
                "closed_by": None,
                "closure_note": "",
                "risk_accepted_by": None,
                "risk_acceptance_justification": "",
                "risk_accepted_until": None,
            }
        else:
            finding = self.findings.setdefault(key, {})
            finding["status"] = data.get("to")
            if action == "finding.propose_remediation":
                finding["remediation"] = reason
            elif action == "finding.close":
                finding.update({"closed_by": _user(record["actor"]), "closure_note": reason})
            elif action == "finding.accept_risk":
                finding.update(
                    {
                        "risk_accepted_by": _user(record["actor"]),
                        "risk_acceptance_justification": reason,
                        "risk_accepted_until": data.get("expires_on"),
                    }
                )

    def compare(self) -> Divergence | None:
        validations = {
            str(v["pk"]): {
                "model": v["model_version__model__name"],
                "version": v["model_version__version"],
                "validator": v["validator__username"],
                "scope": v["scope"],
                "started_on": as_recorded(v["started_on"]),
                "completed_on": as_recorded(v["completed_on"]),
                "conclusion": v["conclusion"],
                "summary": v["summary"],
                "created_by": v["created_by__username"],
            }
            for v in Validation.objects.values(
                "pk",
                "model_version__model__name",
                "model_version__version",
                "validator__username",
                "scope",
                "started_on",
                "completed_on",
                "conclusion",
                "summary",
                "created_by__username",
            )
        }
        divergence = compare_rows("oversight_validation", validations, self.validations)
        if divergence:
            return divergence
        findings = {
            str(f["pk"]): {
                "validation": str(f["validation_id"]),
                "severity": f["severity"],
                "owner": f["owner__username"],
                "due_date": as_recorded(f["due_date"]),
                "evidence_evaluations": as_recorded(f["evidence_evaluations"]),
                "evidence_audit_seqs": as_recorded(f["evidence_audit_seqs"]),
                "status": f["status"],
                "remediation": f["remediation"],
                "closed_by": f["closed_by__username"],
                "closure_note": f["closure_note"],
                "risk_accepted_by": f["risk_accepted_by__username"],
                "risk_acceptance_justification": f["risk_acceptance_justification"],
                "risk_accepted_until": as_recorded(f["risk_accepted_until"]),
            }
            for f in Finding.objects.values(
                "pk",
                "validation_id",
                "severity",
                "owner__username",
                "due_date",
                "evidence_evaluations",
                "evidence_audit_seqs",
                "status",
                "remediation",
                "closed_by__username",
                "closure_note",
                "risk_accepted_by__username",
                "risk_acceptance_justification",
                "risk_accepted_until",
            )
        }
        return compare_rows("oversight_finding", findings, self.findings)

"""Replays workflow events to rebuild policies, promotion requests, approvals (with their
overrides), recusals, review flags, committees and their seats, and stage transitions
(audit.state, ``audit_verify --state``)."""

from __future__ import annotations

from audit.state import Divergence, as_recorded, carried_text, named_by_text
from governance.workflow.models import (
    Approval,
    Committee,
    CommitteeMember,
    Policy,
    PromotionRequest,
    Recusal,
    ReviewFlag,
    StageTransition,
)

# The policy fields every ``policy.create`` / ``policy.revise`` event carries (services.POLICY_FIELDS).
POLICY_FIELDS = (
    "description",
    "required_kinds",
    "checks",
    "allowed_from_stages",
    "max_evaluation_age_days",
    "require_computed",
    "approvals_required",
    "required_roles",
    "accepted_roles",
    "request_window_days",
)

STATUS_ACTIONS = (
    "promotion_request.withdraw",
    "promotion_request.expire",
    "promotion_request.supersede",
)


class WorkflowReplayer:
    name = "workflow"
    actions = (
        "promotion_request.create",
        "promotion_request.approve",
        "promotion_request.reject",
        "promotion_request.promote",
        "promotion_request.recuse",
        *STATUS_ACTIONS,
        "policy.create",
        "policy.revise",
        "model_version.review_flag",
        "review_flag.resolve",
        "committee.create",
        "committee.revise",
    )

    def __init__(self):
        self.requests: dict[str, dict] = {}
        self.approvals: dict[str, dict] = {}
        self.policies: dict[str, dict] = {}
        self.flags: dict[str, dict] = {}
        self.recusals: dict[str, dict] = {}
        self.committees: dict[str, dict] = {}
        # (request id, model name, version) -> the stage transition a promotion recorded
        self.transitions: dict[tuple, dict] = {}
        # committee id -> its seats in the order the service made them: [user id, role, active]
        self.seats: dict[str, list[list]] = {}

    def apply(self, record: dict) -> None:
        action, target, data = record["action"], record["object"], record["data"]
        key = str(target["id"])
        if action in ("committee.create", "committee.revise"):
            self._apply_committee(record, key)
        elif action in ("policy.create", "policy.revise"):
            snapshot = data if action == "policy.create" else data.get("policy") or {}
            self.policies[key] = {
                "scope": target.get("scope"),
                "target_stage": target.get("target_stage"),
                "is_rollback": target.get("is_rollback"),
                "version": target.get("version"),
                "is_current": True,
                **{name: snapshot[name] for name in POLICY_FIELDS if name in snapshot},
            }
            if action == "policy.revise" and data.get("previous_id") is not None:
                self.policies.setdefault(str(data["previous_id"]), {})["is_current"] = False
        elif action == "model_version.review_flag":
            self.flags[str(data.get("flag"))] = {
                "model_version": key,
                "evaluation": str(data.get("evaluation")),
                "policy": str((data.get("policy") or {}).get("id")),
                "breaches": data.get("breaches"),
                "resolved": False,
                "resolved_by": None,
                "resolution": "",
            }
        elif action == "review_flag.resolve":
            self.flags.setdefault(key, {}).update(
                {
                    "resolved": True,
                    "resolved_by": record["actor"].get("username"),
                    "resolution": record.get("reason", ""),
                }
            )
        elif action == "promotion_request.create":
            self.requests[key] = {
                "model": target.get("model"),
                "version": target.get("version"),
                "from_stage": data.get("from"),
                "target_stage": data.get("to"),
                "is_rollback": data.get("is_rollback"),
                "policy": str((data.get("policy") or {}).get("id")),
                "reason": record.get("reason", ""),
                "status": "pending",
            }
        elif action in ("promotion_request.approve", "promotion_request.reject"):
            self.requests.setdefault(key, {})["status"] = data.get("request_status")
            self.approvals[str(data.get("approval"))] = {
                "request": key,
                "approver": record["actor"].get("username"),
                "decision": action.rsplit(".", 1)[1],
                "role": data.get("role"),
                "justification": record.get("reason", ""),
                "signature_meaning": data.get("signature_meaning"),
                "override_justification": data.get("override_justification") or "",
                "overridden_checks": data.get("overridden_checks") or [],
            }
        elif action == "promotion_request.recuse":
            self.recusals[str(data.get("recusal"))] = {
                "request": key,
                "member": data.get("member"),
                "role": data.get("role"),
                "reason": record.get("reason", ""),
            }
        elif action == "promotion_request.promote":
            self.requests.setdefault(key, {})["status"] = "promoted"
            self._apply_transitions(record, key)
        elif action in STATUS_ACTIONS:
            self.requests.setdefault(key, {})["status"] = data.get("to")

    def _apply_transitions(self, record: dict, key: str) -> None:
        """A promotion records one stage transition for its version and, when it replaced the
        production version, one for the retired version. Transitions carry no id in the event: they
        are keyed by (request, model, version)."""
        target, data = record["object"], record["data"]
        model = target.get("model")
        common = {"model": model, "request": key, "is_rollback": data.get("is_rollback")}
        if "at" in data:  # events written before the instant was carried are not checked for it
            common["at"] = data["at"]
        self.transitions[(key, model, target.get("version"))] = {
            **common,
            "version": target.get("version"),
            "from_stage": data.get("from"),
            "to_stage": data.get("to"),
            "approvers": data.get("approvals") or [],
            "evaluation_ids": data.get("evaluation_ids") or [],
            "reason": self.requests.get(key, {}).get("reason", ""),
        }
        retired = data.get("retired")
        if retired is not None:
            self.transitions[(key, model, retired)] = {
                **common,
                "version": retired,
                "from_stage": "production",
                "to_stage": "retired",
                "approvers": data.get("approvals") or [],
                "evaluation_ids": [],
                "reason": f"replaced in production by {target.get('version')}",
            }

    def _compare_transitions(self) -> Divergence | None:
        table = "workflow_stagetransition"
        stored: dict[tuple, list[tuple[str, dict]]] = {}
        for t in StageTransition.objects.order_by("pk").values(
            "pk",
            "request_id",
            "model__name",
            "model_version__model__name",
            "model_version__version",
            "from_stage",
            "to_stage",
            "approvers",
            "evaluation_ids",
            "is_rollback",
            "reason",
            "at",
        ):
            natural = (str(t["request_id"]), t["model_version__model__name"], t["model_version__version"])
            stored.setdefault(natural, []).append(
                (
                    str(t["pk"]),
                    {
                        "model": t["model__name"],
                        "request": str(t["request_id"]),
                        "is_rollback": t["is_rollback"],
                        "version": t["model_version__version"],
                        "from_stage": t["from_stage"],
                        "to_stage": t["to_stage"],
                        "approvers": as_recorded(t["approvers"]),
                        "evaluation_ids": as_recorded(t["evaluation_ids"]),
                        "reason": t["reason"],
                        "at": as_recorded(t["at"]),
                    },
                )
            )
        # Pair each replayed transition with the stored row of the same key that differs least
        # (a raw edit of a row's request can give two rows one key); the rows left over are named.
        pairs: dict[tuple, tuple[str, dict]] = {}
        leftovers: list[tuple[str, dict]] = []
        for natural, rows in stored.items():
            expected = self.transitions.get(natural)
            if expected is None:
                leftovers.extend(rows)
                continue
            rows = sorted(rows, key=lambda r: sum(r[1].get(k) != v for k, v in expected.items()))
            pairs[natural] = rows[0]
            leftovers.extend(rows[1:])
        for pk, row in sorted(leftovers, key=lambda r: int(r[0])):
            lost = next(
                (
                    key
                    for key, value in self.transitions.items()
                    if key not in pairs and (value["model"], value["version"]) == (row["model"], row["version"])
                ),
                None,
            )
            if lost is not None:
                return Divergence(table, pk, "request", row["request"], lost[0])
            return Divergence(
                table, pk, "(row)", "present", "no such transition (it was never recorded by a promotion)"
            )
        for natural, (pk, row) in sorted(pairs.items(), key=lambda p: int(p[1][0])):
            for name, value in self.transitions[natural].items():
                if row.get(name) != value:
                    return Divergence(table, pk, name, row.get(name), value)
        for natural in self.transitions:
            if natural not in pairs:
                request, model, version = natural
                return Divergence(
                    table,
                    f"request {request} version {model} {version}",
                    "(row)",
                    "missing",
                    "a transition recorded by a promotion",
                )
        return None

    def _apply_committee(self, record: dict, key: str) -> None:
        """``committee.create`` carries the committee and its seats; ``committee.revise`` the seats,
        quorum, minimums and activity before and after (the service ends the seats no longer wanted
        and opens one for each new (member, role))."""
        target, data = record["object"], record["data"]
        if record["action"] == "committee.create":
            actor = record["actor"]
            self.committees[key] = {
                "name": target.get("name"),
                "scope": target.get("scope"),
                "model": target.get("model"),
                "target_stage": target.get("target_stage"),
                "quorum": data.get("quorum"),
                "role_minimums": data.get("role_minimums"),
                "is_active": True,
                "created_by": actor.get("username") if actor.get("type") == "user" else None,
            }
            # Events written before these were carried are not checked for them.
            for name in ("description", "description_sha256", "created_at"):
                if name in data:
                    self.committees[key][name] = data[name]
            self.seats[key] = [
                [str(m["user_id"]), m["role"], True, data.get("created_at"), None] for m in data.get("members") or []
            ]
            return
        after = data.get("after") or {}
        committee = self.committees.setdefault(key, {})
        for name in ("quorum", "role_minimums", "is_active"):
            if name in after:
                committee[name] = after[name]
        wanted = {(str(m["user_id"]), m["role"]) for m in after.get("members") or []}
        seats = self.seats.setdefault(key, [])
        kept = set()
        for seat in seats:
            if seat[2]:
                if (seat[0], seat[1]) in wanted:
                    kept.add((seat[0], seat[1]))
                else:
                    seat[2], seat[4] = False, data.get("removed_at")
        for m in after.get("members") or []:
            if (str(m["user_id"]), m["role"]) not in kept:
                seats.append([str(m["user_id"]), m["role"], True, data.get("added_at"), None])

    def _compare_committees(self) -> Divergence | None:
        from audit.state import compare_rows

        committees = {
            str(c["pk"]): {
                **carried_text("description", c["description"]),
                "created_at": as_recorded(c["created_at"]),
                "name": c["name"],
                "scope": c["scope"] or None,
                "model": c["model__name"],
                "target_stage": c["target_stage"],
                "quorum": c["quorum"],
                "role_minimums": as_recorded(c["role_minimums"]),
                "is_active": c["is_active"],
                "created_by": c["created_by__username"],
            }
            for c in Committee.objects.values(
                "pk",
                "description",
                "created_at",
                "name",
                "scope",
                "model__name",
                "target_stage",
                "quorum",
                "role_minimums",
                "is_active",
                "created_by__username",
            )
        }
        divergence = named_by_text(compare_rows("workflow_committee", committees, self.committees))
        if divergence:
            return divergence
        # Seats carry no id in the events: each stored seat is matched to a replayed seat of the same
        # committee, member, role and activity (the first such, in the order both were made); a seat
        # left over on either side is the divergence; then the matched seats' instants are compared.
        table = "workflow_committeemember"
        expected = {key: [list(seat[:3]) for seat in seats] for key, seats in self.seats.items()}
        instants = {key: [seat[3:] for seat in seats] for key, seats in self.seats.items()}
        rows = CommitteeMember.objects.order_by("pk").values_list(
            "pk", "committee_id", "user_id", "role", "added_at", "removed_at"
        )
        unmatched: list[tuple] = []
        matched: list[tuple[str, list, list]] = []
        for pk, committee_id, user_id, role, added_at, removed_at in rows:
            seat = [str(user_id), role, removed_at is None]
            candidates = expected.get(str(committee_id), [])
            if seat in candidates:
                index = candidates.index(seat)
                del candidates[index]
                replayed = instants[str(committee_id)].pop(index)
                matched.append((str(pk), [as_recorded(added_at), as_recorded(removed_at)], replayed))
            else:
                unmatched.append((str(pk), str(committee_id), seat))
        for pk, committee_id, seat in unmatched:
            left = expected.get(committee_id, [])
            # The field that differs: the one where a replayed seat agrees on the other two.
            for index, name in ((2, "removed_at"), (1, "role"), (0, "user")):
                others = [k for k in range(3) if k != index]
                match = next((e for e in left if all(e[k] == seat[k] for k in others)), None)
                if match is not None:
                    if name == "removed_at":
                        return Divergence(table, pk, name, None if seat[2] else "set", None if match[2] else "set")
                    return Divergence(table, pk, name, seat[index], match[index])
            return Divergence(table, pk, "(row)", "present", f"no such seat on committee {committee_id} in the log")
        for committee_id, left in sorted(expected.items()):
            if left:
                user, role, active = left[0]
                return Divergence(
                    table,
                    f"committee {committee_id} seat of user {user} as {role}",
                    "(row)",
                    "missing",
                    "a seat " + ("held" if active else "ended") + " through a service",
                )
        for pk, stored, replayed in matched:
            for name, value, instant in zip(("added_at", "removed_at"), stored, replayed, strict=True):
                if instant is not None and value != instant:  # None: an event that did not carry it
                    return Divergence(table, pk, name, value, instant)
        return None

    def compare(self):
        from audit.state import compare_rows

        policies = {
            str(p["pk"]): as_recorded({k: v for k, v in p.items() if k != "pk"})
            for p in Policy.objects.values(
                "pk", "scope", "target_stage", "is_rollback", "version", "is_current", *POLICY_FIELDS
            )
        }
        divergence = compare_rows("workflow_policy", policies, self.policies)
        if divergence:
            return divergence
        requests = {
            str(r["pk"]): {
                "model": r["model_version__model__name"],
                "version": r["model_version__version"],
                "from_stage": r["from_stage"],
                "target_stage": r["target_stage"],
                "is_rollback": r["is_rollback"],
                "policy": str(r["policy_id"]),
                "reason": r["reason"],
                "status": r["status"],
            }
            for r in PromotionRequest.objects.values(
                "pk",
                "model_version__model__name",
                "model_version__version",
                "from_stage",
                "target_stage",
                "is_rollback",
                "policy_id",
                "reason",
                "status",
            )
        }
        divergence = compare_rows("workflow_promotionrequest", requests, self.requests)
        if divergence:
            return divergence
        approvals = {
            str(a["pk"]): {
                "request": str(a["request_id"]),
                "approver": a["approver__username"],
                "decision": a["decision"],
                "role": a["role"],
                "justification": a["justification"],
                "signature_meaning": a["signature_meaning"],
                "override_justification": a["override_justification"],
                "overridden_checks": as_recorded(a["overridden_checks"]),
            }
            for a in Approval.objects.values(
                "pk",
                "request_id",
                "approver__username",
                "decision",
                "role",
                "justification",
                "signature_meaning",
                "override_justification",
                "overridden_checks",
            )
        }
        divergence = compare_rows("workflow_approval", approvals, self.approvals)
        if divergence:
            return divergence
        flags = {
            str(f["pk"]): {
                "model_version": str(f["model_version_id"]),
                "evaluation": str(f["evaluation_id"]),
                "policy": str(f["policy_id"]),
                "breaches": as_recorded(f["breaches"]),
                "resolved": f["resolved_at"] is not None,
                "resolved_by": f["resolved_by__username"],
                "resolution": f["resolution"],
            }
            for f in ReviewFlag.objects.values(
                "pk",
                "model_version_id",
                "evaluation_id",
                "policy_id",
                "breaches",
                "resolved_at",
                "resolved_by__username",
                "resolution",
            )
        }
        divergence = compare_rows("workflow_reviewflag", flags, self.flags)
        if divergence:
            return divergence
        recusals = {
            str(r["pk"]): {
                "request": str(r["request_id"]),
                "member": r["member__username"],
                "role": r["role"],
                "reason": r["reason"],
            }
            for r in Recusal.objects.values("pk", "request_id", "member__username", "role", "reason")
        }
        divergence = compare_rows("workflow_recusal", recusals, self.recusals)
        if divergence:
            return divergence
        divergence = self._compare_committees()
        if divergence:
            return divergence
        return self._compare_transitions()

"""Approval committees and recusals (issue 17): a policy scope (risk tier or EU AI Act category) or one
model can be signed by a named committee of M people, N of whom must approve, with a minimum per
role; a member declares a conflict of interest on a request, which excludes them from it and lowers
M for that request. The quorum arithmetic itself is in ``signing`` (shared with pages and the API).

Each service is one unit of work with its audit event; every refusal is audited (``refusals``);
nothing is deleted: a member who leaves keeps their seat row with ``removed_at``, a recusal is final.
Open requests keep the committee as it was when they were made (``PromotionRequest.committee_snapshot``).
"""

from __future__ import annotations

from collections import Counter

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_unit, format_ts
from audit.state import carried_text
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.roles import RISK_OFFICER, has_role
from governance.common.errors import Conflict, IllegalTransition, PermissionRefused, ValidationFailed
from governance.common.events import announce
from governance.common.refusals import refusals
from governance.registry.models import RegisteredModel
from governance.workflow import gates
from governance.workflow.models import (
    OPEN_STATUSES,
    TARGET_STAGES,
    Committee,
    CommitteeMember,
    PolicyScope,
    PromotionRequest,
    Recusal,
)
from governance.workflow.services import _lock_request, request_target
from governance.workflow.signing import approvals_outstanding, committee_snapshot, seat_of

MAX_MEMBERS = 100


def committee_target(committee: Committee) -> dict:
    return {
        "type": "committee",
        "id": str(committee.pk),
        "name": committee.name,
        "scope": committee.scope or None,
        "model": committee.model.name if committee.model is not None else None,
        "target_stage": committee.target_stage,
    }


def _clean_members(members) -> list[tuple[User, str]]:
    """``[{"user": User, "role": str}]`` -> [(user, role)], each person once, each role a signer role
    they really hold (a seat is never given in a role its holder does not have)."""
    if not isinstance(members, list) or not members:
        raise ValidationFailed("members: name at least one member", field="members")
    if len(members) > MAX_MEMBERS:
        raise ValidationFailed(f"members: at most {MAX_MEMBERS}", field="members")
    out: list[tuple[User, str]] = []
    seen: set[int] = set()
    for i, member in enumerate(members):
        field = f"members[{i}]"
        user, role = member.get("user"), member.get("role")
        if not isinstance(user, User):
            raise ValidationFailed(f"{field}.user: name a user", field=f"{field}.user")
        if user.pk in seen:
            raise ValidationFailed(f"{field}.user: {user.username} is listed twice", field=f"{field}.user")
        seen.add(user.pk)
        gates.clean_roles([role] if isinstance(role, str) else role, f"{field}.role")
        if user.is_service_account or not user.is_active:
            raise ValidationFailed(
                f"{field}.user: {user.username} cannot sit on a committee (service account or inactive)",
                field=f"{field}.user",
            )
        if not has_role(user, role, superusers=False):
            raise ValidationFailed(
                f"{field}.role: {user.username} does not hold the role {role}", field=f"{field}.role"
            )
        out.append((user, role))
    return out


def _clean_minimums(minimums) -> dict[str, int]:
    if minimums is None:
        return {}
    if not isinstance(minimums, dict):
        raise ValidationFailed("role_minimums: must be an object of role -> number", field="role_minimums")
    gates.clean_roles(list(minimums), "role_minimums")
    for role, count in minimums.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValidationFailed(
                f"role_minimums.{role}: must be a whole number of at least 1", field=f"role_minimums.{role}"
            )
    return dict(sorted(minimums.items()))


def _check_arithmetic(quorum, minimums: dict[str, int], members: list[tuple[User, str]]) -> None:
    """A quorum no larger than the committee, role minimums its members can meet and N can hold."""
    if isinstance(quorum, bool) or not isinstance(quorum, int) or quorum < 1:
        raise ValidationFailed("quorum: must be a whole number of at least 1", field="quorum")
    if quorum > len(members):
        raise ValidationFailed(
            f"quorum: {quorum} approvals cannot come from a committee of {len(members)} member"
            f"{'s' if len(members) != 1 else ''}",
            field="quorum",
        )
    seats = Counter(role for _, role in members)
    for role, count in minimums.items():
        if count > seats[role]:
            raise ValidationFailed(
                f"role_minimums.{role}: {count} approvals as {role} need at least {count} such members "
                f"(the committee has {seats[role]})",
                field=f"role_minimums.{role}",
            )
    if sum(minimums.values()) > quorum:
        raise ValidationFailed(
            f"role_minimums: they add up to {sum(minimums.values())}, more than the quorum of {quorum}",
            field="role_minimums",
        )


def _members_detail(members: list[tuple[User, str]]) -> list[dict]:
    return [{"user_id": user.pk, "username": user.username, "role": role} for user, role in members]


def committee_create(
    *,
    by: Principal,
    name: str,
    target_stage: str,
    quorum: int,
    members: list[dict],
    scope: str = "",
    model: RegisteredModel | None = None,
    role_minimums: dict | None = None,
    description: str = "",
) -> Committee:
    """A risk officer names a committee for a policy scope or for one model (and one target stage)."""
    target = {"type": "committee", "id": str(name)}
    with refusals(by, "committee.create", target):
        by.require_role(RISK_OFFICER, reason="only risk officers set up approval committees")
        name = (name or "").strip()
        if not name:
            raise ValidationFailed("name: is required", field="name")
        if target_stage not in TARGET_STAGES:
            raise ValidationFailed("target_stage: must be staging or production", field="target_stage")
        scope = scope or ""
        if bool(scope) == (model is not None):
            raise ValidationFailed("scope: give either a policy scope (tier or category) or a model", field="scope")
        if scope and scope not in PolicyScope.values:
            raise ValidationFailed(f"scope: must be one of {', '.join(PolicyScope.values)}", field="scope")
        cleaned = _clean_members(members)
        minimums = _clean_minimums(role_minimums)
        _check_arithmetic(quorum, minimums, cleaned)
        with audit_unit(by.actor) as audit:
            clash = Committee.objects.select_for_update().filter(is_active=True, target_stage=target_stage)
            clash = clash.filter(model=model) if model is not None else clash.filter(model__isnull=True, scope=scope)
            if clash.exists():
                raise Conflict(
                    f"an active committee already signs {model.name if model else scope} to {target_stage}; "
                    "revise it instead",
                    field="model" if model else "scope",
                )
            now = timezone.now()
            description = (description or "").strip()
            committee = Committee(
                name=name,
                description=description,
                scope=scope,
                model=model,
                target_stage=target_stage,
                quorum=quorum,
                role_minimums=minimums,
                created_by=by.user,
                created_at=now,
            )
            try:
                with transaction.atomic():
                    committee.save()
            except IntegrityError as exc:
                raise Conflict(f"name: a committee named {name!r} exists", field="name") from exc
            for user, role in cleaned:
                CommitteeMember.objects.create(committee=committee, user=user, role=role, added_at=now)
            target.update(committee_target(committee))
            details = {
                "quorum": quorum,
                "role_minimums": minimums,
                "members": _members_detail(cleaned),
                "created_at": format_ts(now),  # also its seats' added_at
                **carried_text("description", description),
            }
            audit.add("committee.create", committee_target(committee), details=details)
    return committee


def committee_revise(
    *,
    by: Principal,
    committee: Committee,
    reason: str,
    quorum: int | None = None,
    members: list[dict] | None = None,
    role_minimums: dict | None = None,
    is_active: bool | None = None,
) -> Committee:
    """Change a committee's quorum, role minimums, members or activity (open requests keep theirs)."""
    with refusals(by, "committee.revise", committee_target(committee)):
        by.require_role(RISK_OFFICER, reason="only risk officers change approval committees")
        reason = (reason or "").strip()
        if not reason:
            raise ValidationFailed("reason: is required", field="reason")
        with audit_unit(by.actor) as audit:
            current = Committee.objects.select_for_update().get(pk=committee.pk)
            seats = list(current.active_members())
            new_members = _clean_members(members) if members is not None else [(seat.user, seat.role) for seat in seats]
            minimums = _clean_minimums(role_minimums) if role_minimums is not None else current.role_minimums
            new_quorum = current.quorum if quorum is None else quorum
            _check_arithmetic(new_quorum, minimums, new_members)
            before = {
                "quorum": current.quorum,
                "role_minimums": current.role_minimums,
                "members": [{"user_id": s.user_id, "username": s.user.username, "role": s.role} for s in seats],
                "is_active": current.is_active,
            }
            now = timezone.now()
            instants = {}  # the removed_at of the seats it ends and the added_at of those it opens
            wanted = {(user.pk, role) for user, role in new_members}
            for seat in seats:
                if (seat.user_id, seat.role) not in wanted:
                    seat.removed_at = now
                    seat.save(update_fields=["removed_at"])
                    instants["removed_at"] = format_ts(now)
            kept = {(seat.user_id, seat.role) for seat in seats if (seat.user_id, seat.role) in wanted}
            for user, role in new_members:
                if (user.pk, role) not in kept:
                    CommitteeMember.objects.create(committee=current, user=user, role=role, added_at=now)
                    instants["added_at"] = format_ts(now)
            current.quorum, current.role_minimums = new_quorum, minimums
            if is_active is not None:
                current.is_active = is_active
            try:
                with transaction.atomic():
                    current.save(update_fields=["quorum", "role_minimums", "is_active"])
            except IntegrityError as exc:
                raise Conflict("another active committee already signs this scope or model", field="is_active") from exc
            after = {
                "quorum": current.quorum,
                "role_minimums": current.role_minimums,
                "members": _members_detail(new_members),
                "is_active": current.is_active,
            }
            if after == before:
                return current
            audit.add(
                "committee.revise",
                committee_target(current),
                details={"before": before, "after": after, **instants},
                reason=reason,
            )
    return current


def promotion_request_recuse(*, by: Principal, request: PromotionRequest, reason: str) -> Recusal:
    """A committee member declares a conflict of interest on ``request``: they can no longer sign it and
    the committee counts one member fewer (M) for it. Refused after they signed it."""
    action = "promotion_request.recuse"
    with refusals(by, action, request_target(request)):
        user = by.user
        if user is None:
            raise PermissionRefused("only a committee member recuses")
        reason = (reason or "").strip()
        if not reason:
            raise ValidationFailed("reason: declare the conflict of interest", field="reason")
        with audit_unit(by.actor) as audit:
            now = timezone.now()
            req = _lock_request(request)
            if not req.committee_snapshot:
                raise ValidationFailed(
                    "this request is not signed by a committee; there is nothing to recuse from", field="committee"
                )
            seat = seat_of(req, user)
            if seat is None:
                raise PermissionRefused(
                    f"you are not a member of the committee {req.committee_snapshot['name']!r} for this request",
                    field="committee",
                )
            if req.status not in OPEN_STATUSES:
                raise IllegalTransition(f"the request is {req.status}; recusals are for open requests", field="status")
            signed = req.approvals.filter(approver=user, invalidated_at__isnull=True).first()
            if signed is not None:
                raise Conflict(
                    f"you signed this request ({signed.decision}, approval #{signed.pk}, "
                    f"{signed.signed_at:%Y-%m-%d %H:%M} UTC); a recusal after signing is refused",
                    field="committee",
                    details={"approval": signed.pk},
                )
            if req.recusals.filter(member=user).exists():
                raise Conflict("you have already recused yourself from this request", field="committee")
            recusal = Recusal.objects.create(
                request=req, member=user, role=seat["role"], reason=reason, declared_at=now
            )
            outstanding = approvals_outstanding(req, now=now)
            audit.add(
                action,
                request_target(req),
                details={
                    "recusal": recusal.pk,
                    "member": user.username,
                    "role": seat["role"],
                    "committee": outstanding["committee"],
                },
                reason=reason,
            )
            announce("promotion_request.recused", request_id=req.pk, member_id=user.pk)
    return recusal


__all__ = [
    "committee_create",
    "committee_revise",
    "committee_snapshot",
    "committee_target",
    "promotion_request_recuse",
]

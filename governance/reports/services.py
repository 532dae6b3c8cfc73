"""Narratives and documentation packs: who may write and request what, and the generation job."""

from __future__ import annotations

import logging
import tempfile
import unicodedata
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.utils import timezone

from audit.services import audit_unit, format_ts
from audit.state import TEXT_CHARS, carried_text
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.roles import AUDITOR, RISK_OFFICER
from governance.common.errors import Conflict, PermissionRefused, ValidationFailed
from governance.common.events import announce
from governance.common.refusals import refusals
from governance.registry import selectors as registry_selectors
from governance.registry.models import ModelVersion, RegisteredModel
from governance.registry.services import model_target, version_target
from governance.reports.bundle import file_sha256, write_bundle
from governance.reports.identity import pack_content_hash
from governance.reports.models import DocumentationPack, NarrativeEntry, PackStatus, Regime
from governance.reports.narratives import BY_KEY
from governance.reports.outlines import load_outline
from governance.reports.render import render_pack_pdf
from governance.reports.snapshot import SnapshotError, as_of_event, build_pack

logger = logging.getLogger(__name__)
PACK_ROLES = (AUDITOR, RISK_OFFICER)
MAX_NARRATIVE_CHARS = 50_000


def pack_target(pack: DocumentationPack) -> dict:
    return {
        "type": "documentation_pack",
        "id": str(pack.pk),
        "model": pack.model_version.model.name,
        "version": pack.model_version.version,
        "regime": pack.regime,
    }


def narrative_set(
    *, by: Principal, model: RegisteredModel, key: str, text: str, version: ModelVersion | None = None
) -> NarrativeEntry:
    """Record a narrative (a new entry; earlier ones stay). Only the owning role writes it;
    service accounts never do: these are statements by accountable people."""
    spec = BY_KEY.get(key)
    target = version_target(version) if version is not None else model_target(model)
    with refusals(by, "narrative.set", target, details={"key": str(key)[:64]}):
        if spec is None:
            raise ValidationFailed(f"unknown narrative {key!r}", field="key")
        if spec.scope == "version" and version is None:
            raise ValidationFailed(f"{key} is written per model version: choose the version", field="model_version")
        if spec.scope == "model" and version is not None:
            raise ValidationFailed(f"{key} is written once for the model, not per version", field="model_version")
        if version is not None and version.model_id != model.pk:
            raise ValidationFailed("the version belongs to another model", field="model_version")
        if len(text) > MAX_NARRATIVE_CHARS:
            raise ValidationFailed(f"at most {MAX_NARRATIVE_CHARS} characters", field="text")
        author = by.user
        if author is None or by.is_service_account or not by.has_role(spec.role):
            raise PermissionRefused(
                f"{spec.label} is written by the {spec.role.replace('_', ' ')}, and only by a person", field="key"
            )
        role = spec.role if spec.role in by.roles else "administrator"
        text = unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()
        with audit_unit(by.actor) as audit:
            now = timezone.now()
            entry = NarrativeEntry.objects.create(
                model=model, model_version=version, key=key, text=text, author=author, author_role=role, created_at=now
            )
            details = {
                "key": key,
                "label": spec.label,
                "role": role,
                "chars": len(text),
                "withdrawn": not text,
                "entry": entry.pk,
                "created_at": format_ts(now),
                # the reason holds the first 2,000 characters; this digest, the whole text
                "text_sha256": carried_text("text", text)["text_sha256"],
            }
            audit.add("narrative.set", target, details=details, reason=text[:TEXT_CHARS] or None)
    return entry


def _may_use_packs(by: Principal) -> bool:
    return not by.is_service_account and by.has_role(*PACK_ROLES)


def _pack_requester(by: Principal) -> User:
    """The person requesting packs: an auditor or a risk officer, never a service account or a job."""
    if by.user is None or not _may_use_packs(by):
        raise PermissionRefused("documentation packs are requested by auditors and risk officers")
    return by.user


def pack_request(*, by: Principal, version: ModelVersion, regime: str, as_of: int | None = None) -> DocumentationPack:
    """Queue a pack for ``version`` as of audit seq ``as_of`` (default: the latest entry)."""
    with refusals(by, "report.request", version_target(version), details={"regime": str(regime)[:64]}):
        if regime not in Regime.values:
            raise ValidationFailed(f"regime must be one of {', '.join(Regime.values)}", field="regime")
        requester = _pack_requester(by)
        try:
            event = as_of_event(as_of)
        except SnapshotError as exc:
            raise ValidationFailed(str(exc), field=exc.field) from exc
        with audit_unit(by.actor) as audit:
            pack = _queue(audit, by, requester, version, regime, event)
    return pack


def _queue(
    audit, by: Principal, requester: User, version: ModelVersion, regime: str, event, details: dict | None = None
):
    """Create one queued pack and its ``report.request`` event inside the caller's audit unit
    (``requester`` is ``by.user``, checked by ``_pack_requester``)."""
    outline = load_outline(regime)
    pack = DocumentationPack.objects.create(
        model_version=version,
        regime=regime,
        as_of_seq=event.seq,
        as_of_ts=event.record_json["ts"],
        requested_by=requester,
        outline_version=outline["outline_version"],
        regulatory_text=outline.get("regulatory_text", "")[:300],
    )
    audit.add(
        "report.request",
        pack_target(pack),
        details={"as_of": event.seq, "outline_version": outline["outline_version"], **(details or {})},
    )
    announce("documentation_pack.requested", pack_id=pack.pk, by=by.as_context())
    return pack


def packs_request_governing(
    *, by: Principal, version: ModelVersion, as_of: int | None = None
) -> list[DocumentationPack]:
    """Queue one pack per regime governing the version's model (its ``governing_regimes``, or the
    installation's ``DEFAULT_GOVERNING_REGIMES``), all as of the same audit seq, in one transaction."""
    regimes = registry_selectors.governing_regimes(version.model)
    with refusals(by, "report.request", version_target(version), details={"regime": ",".join(regimes)[:64]}):
        requester = _pack_requester(by)
        try:
            event = as_of_event(as_of)
        except SnapshotError as exc:
            raise ValidationFailed(str(exc), field=exc.field) from exc
        with audit_unit(by.actor) as audit:
            packs = [_queue(audit, by, requester, version, r, event, {"governing_regimes": regimes}) for r in regimes]
    return packs


def _progress(pack: DocumentationPack, text: str, status: str | None = None) -> None:
    fields = {"progress": text[:300]}
    if status:
        fields["status"] = status
    DocumentationPack.objects.filter(pk=pack.pk).update(**fields)  # bookkeeping, not audited


def pack_generate(pack_id: int, *, by: Principal) -> DocumentationPack:
    """Render and sign a queued pack. On failure the job records why and offers no file."""
    pack = DocumentationPack.objects.select_related("model_version__model").get(pk=pack_id)
    if pack.status == PackStatus.DONE:
        return pack
    workdir = Path(tempfile.mkdtemp(prefix="mlgov-pack-", dir=_scratch_dir()))
    try:
        _progress(pack, "building the snapshot", PackStatus.RENDERING)
        outline = load_outline(pack.regime, pack.outline_version)
        document, events, checkpoint = build_pack(pack.model_version, pack.regime, pack.as_of_seq)
        pdf_path = workdir / f"{document['pack_id']}.pdf"
        render_pack_pdf(
            document,
            outline,
            pdf_path,
            progress=lambda k, n, title: _progress(pack, f"rendering section {k} of {n}: {title}"),
        )
        _progress(pack, "signing the evidence bundle", PackStatus.SIGNING)
        bundle_path = workdir / f"{document['pack_id']}.zip"
        bundle_sha = write_bundle(
            out_path=bundle_path,
            pdf_path=pdf_path,
            pack=document,
            events=events,
            checkpoint=checkpoint,
            title=outline.get("title", pack.regime),
        )
        with audit_unit(by.actor) as audit:
            pack = DocumentationPack.objects.select_for_update().get(pk=pack.pk)
            with open(pdf_path, "rb") as pdf, open(bundle_path, "rb") as bundle:
                pack.pdf.save(pdf_path.name, File(pdf), save=False)
                pack.bundle.save(bundle_path.name, File(bundle), save=False)
            pack.pack_id = document["pack_id"]
            pack.content_sha256 = pack_content_hash(document)
            pack.pdf_sha256 = file_sha256(pdf_path)
            pack.bundle_sha256 = bundle_sha
            pack.generator_version = document["generator"]["version"]
            pack.status = PackStatus.DONE
            pack.progress = "done"
            pack.finished_at = timezone.now()
            pack.save()
            audit.add(
                "report.complete",
                pack_target(pack),
                details={
                    "pack_id": pack.pack_id,
                    "as_of": pack.as_of_seq,
                    "content_sha256": pack.content_sha256,
                    "pdf_sha256": pack.pdf_sha256,
                    "bundle_sha256": pack.bundle_sha256,
                    "cited_events": len(events),
                    "checkpoint_size": checkpoint.size,
                },
            )
        return pack
    except Exception as exc:  # any failure is recorded on the job, then re-raised
        logger.exception("documentation pack %s failed", pack_id)
        with audit_unit(by.actor) as audit:
            DocumentationPack.objects.filter(pk=pack_id).update(
                status=PackStatus.FAILED,
                failure_reason=f"{type(exc).__name__}: {exc}"[:2000],
                progress="failed",
                finished_at=timezone.now(),
                pdf="",
                bundle="",
            )
            audit.add(
                "report.fail",
                pack_target(pack),
                details={"error": f"{type(exc).__name__}: {exc}"[:500]},
            )
        raise
    finally:
        for leftover in workdir.glob("*"):
            leftover.unlink()
        workdir.rmdir()


def pack_fail_stale(pack_id: int, *, by: Principal, reason: str) -> bool:
    """A pack left queued/rendering/signing by a dead worker -> failed with the reason (audited
    ``report.fail``); called by the reaper (governance.evaluations.jobs). False when it moved on."""
    with audit_unit(by.actor) as audit:
        pack = (
            DocumentationPack.objects.select_for_update()
            .select_related("model_version__model")
            .filter(pk=pack_id, status__in=(PackStatus.QUEUED, PackStatus.RENDERING, PackStatus.SIGNING))
            .first()
        )
        if pack is None:
            return False
        DocumentationPack.objects.filter(pk=pack_id).update(
            status=PackStatus.FAILED,
            failure_reason=reason[:2000],
            progress="failed",
            finished_at=timezone.now(),
            pdf="",
            bundle="",
        )
        audit.add("report.fail", pack_target(pack), details={"error": reason[:500]})
    return True


def _scratch_dir() -> str:
    path = Path(settings.MEDIA_ROOT) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def pack_download(*, by: Principal, pack: DocumentationPack, what: str):
    """Open the PDF or the bundle of a finished pack for download; audited."""
    with refusals(by, "report.download", pack_target(pack), details={"file": what}):
        if not _may_use_packs(by):
            raise PermissionRefused("documentation packs are downloaded by auditors and risk officers")
        if pack.status != PackStatus.DONE:
            raise Conflict(f"the pack is {pack.status}; nothing to download yet", field="status")
    field = pack.pdf if what == "pdf" else pack.bundle
    with audit_unit(by.actor) as audit:
        audit.add(
            "report.download",
            pack_target(pack),
            details={"file": what, "sha256": pack.pdf_sha256 if what == "pdf" else pack.bundle_sha256},
        )
    return field.open("rb")

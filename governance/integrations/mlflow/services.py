"""The MLflow bridge's rules. Webhook deliveries and the periodic sync go through the same functions:

- ``mlflow_link_create`` / ``mlflow_link_update``: link a registered model to an MLflow registered model.
- ``mlflow_version_import``: one MLflow version becomes a model version here, with its lineage and the
  SHA-256 of its artifact files; idempotent; nothing is written until everything was read from MLflow.
- ``mlflow_version_verify``: re-hash an imported version's artifacts; a change is flagged, never applied.
- ``mlflow_link_sync``: import what is new, verify what was imported, check the governed aliases, and
  flush pending alias writes. MLflow failing midway loses nothing: each version is its own transaction.
- ``mlflow_webhook_receive``: verify a delivery (signature, timestamp, replay), record it, enqueue its work.
- ``mlflow_aliases_check``: compare MLflow's aliases with the governed ones; out-of-band changes are
  audited, flagged, notified, and restored or only flagged (per link).
- ``mlflow_alias_writes_plan`` / ``mlflow_alias_write_attempt``: after promotions, rollbacks and
  retirements here, move the governed aliases in MLflow, retried with backoff.

Network reads happen before a transaction opens; transactions hold only database writes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone

from audit.services import audit_unit
from audit.state import json_sha256
from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.roles import PIPELINE, RISK_OFFICER
from governance.common.errors import (
    Conflict,
    DomainError,
    NotFound,
    PermissionRefused,
    Unauthenticated,
    Unavailable,
    ValidationFailed,
)
from governance.common.events import announce
from governance.common.refusals import refusals
from governance.common.services import full_clean_or_raise
from governance.integrations.mlflow.client import (
    UNAVAILABLE,
    artifact_repository,
    clean_tracking_uri,
    guarded,
    mlflow_client,
)
from governance.integrations.mlflow.models import (
    AliasWriteStatus,
    FlagKind,
    HashStatus,
    MlflowAliasWrite,
    MlflowDelivery,
    MlflowFlag,
    MlflowLink,
    MlflowVersionImport,
    OutOfBandPolicy,
    SyncStatus,
    alias_validator,
)
from governance.registry.models import ModelVersion, RegisteredModel, Stage
from governance.registry.services import model_target, model_version_create, version_target

logger = logging.getLogger(__name__)

BRIDGE_USERNAME = "mlflow-bridge"
ALIAS_WRITER = Principal.system("mlflow-alias-writer")
GIT_COMMIT_TAG = "mlflow.source.git.commit"
COMMIT_RE = re.compile(r"^[0-9a-f]{7,64}$")
HASH_CHUNK = 1024 * 1024
WEBHOOK_EVENTS = {
    ("model_version", "created"),
    ("model_version_alias", "created"),
    ("model_version_alias", "deleted"),
}


def link_target(link: MlflowLink) -> dict:
    return {"type": "mlflow_link", "id": str(link.pk), "model": link.model.name, "mlflow_name": link.mlflow_name}


def _may_govern(by: Principal, model: RegisteredModel) -> bool:
    """The model's owner or a risk officer (active users; superusers too), or the operator's own job
    (a management command such as the demo link, a system principal)."""
    user = by.user
    if user is None:  # a system principal
        return True
    return by.has_role(RISK_OFFICER) or (user.is_active and model.owner_id == user.pk)


def bridge_user() -> User:
    """The service account recorded as ``registered_by`` of imported versions (so every human may sign)."""
    user = User.objects.filter(username=BRIDGE_USERNAME).first()
    if user is not None:
        return user
    from governance.accounts.services import user_create

    try:
        return user_create(
            by=Principal.system("mlflow-bridge"),
            username=BRIDGE_USERNAME,
            password=None,
            roles=[PIPELINE],
            is_service_account=True,
        )
    except Conflict:  # created concurrently
        return User.objects.get(username=BRIDGE_USERNAME)


def bridge_principal() -> Principal:
    return Principal.for_user(bridge_user(), auth="system")


# --- links ------------------------------------------------------------------------------------------------------


def _clean_link_options(data: dict) -> dict:
    out: dict[str, Any] = {}
    if "governed_alias" in data:
        alias = (data["governed_alias"] or "").strip()
        try:
            alias_validator(alias)
        except DjangoValidationError as exc:
            raise ValidationFailed(f"governed_alias: {exc.messages[0]}", field="governed_alias") from exc
        out["governed_alias"] = alias
    if "stage_aliases" in data:
        stage_aliases = data["stage_aliases"] or {}
        if not isinstance(stage_aliases, dict):
            raise ValidationFailed(
                'stage_aliases must be an object such as {"staging": "challenger"}', field="stage_aliases"
            )
        for stage, alias in stage_aliases.items():
            if stage not in (Stage.STAGING, Stage.DEVELOPMENT):
                raise ValidationFailed(
                    f"stage_aliases: {stage!r} cannot have a stage alias (development or staging; production has "
                    "the governed alias)",
                    field=f"stage_aliases.{stage}",
                )
            try:
                alias_validator(alias)
            except DjangoValidationError as exc:
                raise ValidationFailed(
                    f"stage_aliases.{stage}: {exc.messages[0]}", field=f"stage_aliases.{stage}"
                ) from exc
        out["stage_aliases"] = dict(stage_aliases)
    if "out_of_band" in data:
        if data["out_of_band"] not in OutOfBandPolicy.values:
            raise ValidationFailed(
                f"out_of_band must be one of {', '.join(OutOfBandPolicy.values)}", field="out_of_band"
            )
        out["out_of_band"] = data["out_of_band"]
    governed = out.get("governed_alias")
    if governed and governed in (out.get("stage_aliases") or {}).values():
        raise ValidationFailed("a stage alias cannot be the governed (production) alias", field="stage_aliases")
    return out


def _link_snapshot(link: MlflowLink) -> dict:
    return {
        "tracking_uri": link.tracking_uri,
        "mlflow_name": link.mlflow_name,
        "governed_alias": link.governed_alias,
        "stage_aliases": link.stage_aliases,
        "out_of_band": link.out_of_band,
    }


def mlflow_link_create(
    *,
    by: Principal,
    model: RegisteredModel,
    tracking_uri: str,
    mlflow_name: str,
    governed_alias: str = "champion",
    stage_aliases: dict | None = None,
    out_of_band: str = OutOfBandPolicy.RESTORE,
    check_remote: bool = True,
) -> MlflowLink:
    """Link ``model`` to ``mlflow_name`` at ``tracking_uri`` (the model's owner or a risk officer)."""
    with refusals(by, "mlflow.link", model_target(model)):
        if not _may_govern(by, model):
            raise PermissionRefused("only the model's owner or a risk officer links it to MLflow")
        tracking_uri = clean_tracking_uri(tracking_uri)
        mlflow_name = (mlflow_name or "").strip()
        if not mlflow_name:
            raise ValidationFailed("mlflow_name is required: the model's name in MLflow", field="mlflow_name")
        options = _clean_link_options(
            {"governed_alias": governed_alias, "stage_aliases": stage_aliases or {}, "out_of_band": out_of_band}
        )
        if check_remote:
            client = mlflow_client(tracking_uri)
            try:
                with guarded(f"reading registered model {mlflow_name!r}"):
                    client.get_registered_model(mlflow_name)
            except ValidationFailed as exc:  # MLflow refused (mlflow_refused)
                raise ValidationFailed(
                    f"MLflow at {tracking_uri} has no registered model named {mlflow_name!r} ({exc.message})",
                    field="mlflow_name",
                ) from exc
        link = MlflowLink(
            model=model, tracking_uri=tracking_uri, mlflow_name=mlflow_name, created_by=by.user, **options
        )
        full_clean_or_raise(link, exclude=["model", "created_by"])
        with audit_unit(by.actor) as audit:
            RegisteredModel.objects.select_for_update().get(pk=model.pk)
            if MlflowLink.objects.filter(model=model).exists():
                raise Conflict(f"{model.name} is already linked to MLflow", field="model")
            if MlflowLink.objects.filter(tracking_uri=tracking_uri, mlflow_name=mlflow_name).exists():
                raise Conflict(
                    f"{mlflow_name!r} at {tracking_uri} is already linked to another model", field="mlflow_name"
                )
            link.save()
            audit.add("mlflow.link", link_target(link), details={**_link_snapshot(link), "created_at": link.created_at})
    return link


def mlflow_link_update(*, by: Principal, link: MlflowLink, data: dict) -> MlflowLink:
    """Change the governed alias, stage aliases or out-of-band policy (owner or risk officer)."""
    with refusals(by, "mlflow.link_update", link_target(link)):
        unknown = sorted(set(data) - {"governed_alias", "stage_aliases", "out_of_band"})
        if unknown:
            raise ValidationFailed(f"{unknown[0]} cannot be changed on a link", field=unknown[0])
        if not _may_govern(by, link.model):
            raise PermissionRefused("only the model's owner or a risk officer changes its MLflow link")
        options = _clean_link_options(data)
        with audit_unit(by.actor) as audit:
            link = MlflowLink.objects.select_for_update().select_related("model").get(pk=link.pk)
            before = _link_snapshot(link)
            for name, value in options.items():
                setattr(link, name, value)
            if link.governed_alias in (link.stage_aliases or {}).values():
                raise ValidationFailed("a stage alias cannot be the governed (production) alias", field="stage_aliases")
            after = _link_snapshot(link)
            if after == before:
                return link
            link.save()
            audit.add(
                "mlflow.link_update",
                link_target(link),
                details={k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]},
            )
    return link


# --- reading a version from MLflow ------------------------------------------------------------------------------


@dataclass
class ArtifactManifest:
    files: list[dict] = field(default_factory=list)
    status: str = HashStatus.HASHED
    reason: str = ""
    framework: str = ""

    @property
    def sha256(self) -> str:
        """SHA-256 of the canonical manifest: every file's path, size and SHA-256 (or why it is missing)."""
        body = {"files": self.files, "status": self.status}
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class VersionFacts:
    version: str
    status: str
    run_id: str
    source: str
    download_uri: str
    git_commit: str
    parameters: dict
    datasets: list[dict]
    manifest: ArtifactManifest
    created_at: dt.datetime | None


def _list_files(repo, path: str | None = None) -> list:
    out = []
    for info in repo.list_artifacts(path):
        if info.is_dir:
            out.extend(_list_files(repo, info.path))
        else:
            out.append(info)
    return out


def _framework_from_mlmodel(text: str) -> str:
    try:
        import yaml

        doc = yaml.safe_load(text) or {}
    except Exception:
        return ""
    flavors = {k: v for k, v in (doc.get("flavors") or {}).items() if k != "python_function"}
    for name, conf in sorted(flavors.items()):
        version = (conf or {}).get(f"{name}_version") if isinstance(conf, dict) else None
        return f"{name} {version}".strip() if version else name
    return "python_function" if doc.get("flavors") else ""


def artifact_manifest(download_uri: str, tracking_uri: str) -> ArtifactManifest:
    """Download each artifact file (one at a time, into a temporary folder) and hash it in chunks."""
    limit = int(settings.MLFLOW_MAX_ARTIFACT_BYTES)
    with guarded(f"listing artifacts at {download_uri}"):
        repo = artifact_repository(download_uri, tracking_uri)
        infos = sorted(_list_files(repo), key=lambda i: i.path)
    if not infos:
        return ArtifactManifest(
            status=HashStatus.NO_ARTIFACTS, reason=f"MLflow lists no artifact files at {download_uri}"
        )
    declared = sum(int(i.file_size or 0) for i in infos)
    if declared > limit:
        return ArtifactManifest(
            files=[{"path": i.path, "size": i.file_size, "sha256": None} for i in infos],
            status=HashStatus.TOO_LARGE,
            reason=f"the artifacts total {declared} bytes, more than MLFLOW_MAX_ARTIFACT_BYTES ({limit})",
        )
    manifest = ArtifactManifest()
    total = 0
    workdir = Path(tempfile.mkdtemp(prefix="mlgov-mlflow-"))
    try:
        for info in infos:
            with guarded(f"downloading artifact {info.path}"):
                local = Path(repo.download_artifacts(info.path, dst_path=str(workdir)))
            digest, size = hashlib.sha256(), 0
            with open(local, "rb") as fh:
                while chunk := fh.read(HASH_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
            total += size
            if Path(info.path).name == "MLmodel" and size < 256 * 1024:
                manifest.framework = _framework_from_mlmodel(local.read_text(errors="replace"))
            local.unlink()
            if total > limit:
                return ArtifactManifest(
                    files=[{"path": i.path, "size": i.file_size, "sha256": None} for i in infos],
                    status=HashStatus.TOO_LARGE,
                    reason=f"the artifacts exceed MLFLOW_MAX_ARTIFACT_BYTES ({limit}) while downloading",
                )
            manifest.files.append({"path": info.path, "size": size, "sha256": digest.hexdigest()})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return manifest


def _millis(value) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC)


def read_version(link: MlflowLink, version: str, client=None) -> VersionFacts:
    """Everything the import needs, read from MLflow (no database write)."""
    client = client or mlflow_client(link.tracking_uri)
    with guarded(f"reading {link.mlflow_name} version {version}"):
        mv = client.get_model_version(link.mlflow_name, str(version))
    params, commit, datasets = {}, "", []
    if mv.run_id:
        with guarded(f"reading run {mv.run_id}"):
            run = client.get_run(mv.run_id)
        params = dict(run.data.params)
        commit = run.data.tags.get(GIT_COMMIT_TAG, "")
        for dataset_input in (run.inputs.dataset_inputs if run.inputs else []) or []:
            ds = dataset_input.dataset
            tags = {t.key: t.value for t in dataset_input.tags or []}
            datasets.append(
                {
                    "name": ds.name,
                    "digest": ds.digest,
                    "source_type": ds.source_type,
                    "source": ds.source,
                    "context": tags.get("mlflow.data.context", ""),
                }
            )
    with guarded(f"resolving the download URI of {link.mlflow_name} version {version}"):
        download_uri = client.get_model_version_download_uri(link.mlflow_name, str(version))
    manifest = artifact_manifest(download_uri, link.tracking_uri) if mv.status == "READY" else ArtifactManifest()
    return VersionFacts(
        version=str(mv.version),
        status=mv.status,
        run_id=mv.run_id or "",
        source=mv.source or "",
        download_uri=download_uri or "",
        git_commit=commit,
        parameters=params,
        datasets=datasets,
        manifest=manifest,
        created_at=_millis(mv.creation_timestamp),
    )


# --- flags and notifications ------------------------------------------------------------------------------------


def _raise_flag(
    *,
    by: Principal,
    model: RegisteredModel,
    kind: str,
    summary: str,
    details: dict,
    version: ModelVersion | None = None,
) -> MlflowFlag:
    """Inside the caller's transaction: the flag, its audit event, and the notification after commit."""
    with audit_unit(by.actor) as audit:  # joins the caller's unit
        flag = MlflowFlag.objects.create(
            model=model, model_version=version, kind=kind, summary=summary[:300], details=details
        )
        audit.add(
            "mlflow.review_flag",
            version_target(version) if version else model_target(model),
            details={"flag": flag.pk, "kind": kind, "summary": flag.summary, **details, "created_at": flag.created_at},
        )
        announce("mlflow.flag_raised", flag_id=flag.pk)  # handlers.py queues the e-mail after the commit
    return flag


def mlflow_flag_resolve(*, by: Principal, flag: MlflowFlag, resolution: str) -> MlflowFlag:
    target = {"type": "mlflow_flag", "id": str(flag.pk), "model": flag.model.name}
    with refusals(by, "mlflow.review_flag_resolve", target):
        by.require_role(RISK_OFFICER, reason="only a risk officer resolves an MLflow review flag")
        if not (resolution or "").strip():
            raise ValidationFailed("a resolution is required", field="resolution")
        with audit_unit(by.actor) as audit:
            flag = MlflowFlag.objects.select_for_update().get(pk=flag.pk)
            if flag.resolved_at:
                raise Conflict("the flag is already resolved")
            flag.resolved_at, flag.resolved_by, flag.resolution = timezone.now(), by.user, resolution.strip()
            flag.save(update_fields=["resolved_at", "resolved_by", "resolution"])
            audit.add(
                "mlflow.review_flag_resolve",
                target,
                reason=flag.resolution,
                details={"kind": flag.kind, "resolved_at": flag.resolved_at},
            )
    return flag


# --- import and verify ------------------------------------------------------------------------------------------


def _description(link: MlflowLink, facts: VersionFacts) -> str:
    text = f"Imported from MLflow: {link.mlflow_name} version {facts.version} ({facts.source})."
    if facts.manifest.status != HashStatus.HASHED:
        text += f" Artifact hash missing: {facts.manifest.reason}."
    return text


def _training_data(datasets: list[dict]) -> str:
    training = [d for d in datasets if d.get("context") in ("training", "train")] or datasets
    if not training:
        return ""
    d = training[0]
    return (d.get("source") or d.get("name") or "")[:500]


SAFE_KEY = re.compile(r"[^A-Za-z0-9_.:\-]")


def safe_parameters(params: dict) -> dict:
    """MLflow allows '/', spaces and long names in parameter keys; the inventory and the audit log take
    1-64 of ``A-Za-z0-9_.:-``. Other characters become '_' (the exact names stay on the import row)."""
    out: dict[str, str] = {}
    for key in sorted(params):
        safe = SAFE_KEY.sub("_", key)[:64] or "_"
        candidate, n = safe, 2
        while candidate in out:
            suffix = f"_{n}"
            candidate, n = safe[: 64 - len(suffix)] + suffix, n + 1
        out[candidate] = params[key]
    return out


def mlflow_version_import(
    *, by: Principal, link: MlflowLink, version: str, client=None, facts: VersionFacts | None = None
) -> MlflowVersionImport | None:
    """Import one MLflow version (idempotent). Returns None while MLflow still creates the version."""
    existing = MlflowVersionImport.objects.filter(link=link, mlflow_version=str(version)).first()
    if existing is not None:
        return existing
    facts = facts or read_version(link, str(version), client)
    if facts.status != "READY":
        return None
    manifest = facts.manifest
    commit = facts.git_commit if COMMIT_RE.match(facts.git_commit or "") else ""
    lineage = {
        "mlflow_version": facts.version,
        "run_id": facts.run_id,
        "source_uri": facts.source,
        "download_uri": facts.download_uri,
        "git_commit": facts.git_commit,
        "parameters": [{"name": k, "value": v} for k, v in sorted(facts.parameters.items())],
        "datasets": facts.datasets,
        "artifact_files": manifest.files,
        "artifact_sha256": manifest.sha256,
        "hash_status": manifest.status,
        "hash_missing_reason": manifest.reason,
    }
    registrant = bridge_principal()
    with audit_unit(by.actor) as audit:
        link = MlflowLink.objects.select_for_update().select_related("model").get(pk=link.pk)
        existing = MlflowVersionImport.objects.filter(link=link, mlflow_version=facts.version).first()
        if existing is not None:
            return existing
        if ModelVersion.objects.filter(model=link.model, version=facts.version).exists():
            raise Conflict(
                f"{link.model.name} already has a version {facts.version!r} that was not imported from MLflow; "
                "rename it or link another model",
                field="version",
            )
        mv = model_version_create(
            by=registrant,
            model=link.model,
            version=facts.version,
            artifact_uri=(facts.download_uri or facts.source)[:500],
            artifact_sha256=manifest.sha256,
            training_data_ref=_training_data(facts.datasets),
            code_commit=commit,
            framework=manifest.framework[:100],
            parameters=safe_parameters(facts.parameters),
            description=_description(link, facts),
        )
        imp = MlflowVersionImport.objects.create(
            link=link,
            model_version=mv,
            mlflow_version=facts.version,
            run_id=facts.run_id,
            source_uri=facts.source[:1000],
            download_uri=facts.download_uri[:1000],
            git_commit=(facts.git_commit or "")[:100],
            parameters=facts.parameters,
            datasets=facts.datasets,
            artifact_files=manifest.files,
            artifact_sha256=manifest.sha256,
            hash_status=manifest.status,
            hash_missing_reason=manifest.reason,
            mlflow_created_at=facts.created_at,
            last_verified_at=timezone.now(),
        )
        audit.add(
            "mlflow.version_import",
            version_target(mv),
            details={
                "link": link.pk,
                "mlflow_name": link.mlflow_name,
                "tracking_uri": link.tracking_uri,
                **lineage,
                "import": imp.pk,
                "mlflow_created_at": imp.mlflow_created_at,
                "imported_at": imp.imported_at,
            },
        )
        if manifest.status != HashStatus.HASHED:
            _raise_flag(
                by=by,
                model=link.model,
                version=mv,
                kind=FlagKind.ARTIFACT_MISSING,
                summary=f"{link.model.name} {mv.version}: imported without an artifact hash ({manifest.status})",
                details={"reason": manifest.reason, "hash_status": manifest.status},
            )
    return imp


def mlflow_version_verify(*, by: Principal, imp: MlflowVersionImport) -> bool:
    """Re-hash an imported version's artifacts in MLflow. True when they differ from the import.

    The version here never changes (lineage is immutable): the difference is audited and flagged once
    per new content."""
    link = imp.link
    manifest = artifact_manifest(imp.download_uri, link.tracking_uri)
    now = timezone.now()
    if manifest.sha256 == imp.artifact_sha256 or manifest.sha256 == imp.latest_artifact_sha256:
        MlflowVersionImport.objects.filter(pk=imp.pk).update(last_verified_at=now)
        return manifest.sha256 != imp.artifact_sha256
    before = {f["path"]: f for f in imp.artifact_files}
    after = {f["path"]: f for f in manifest.files}
    changes = [
        {"path": path, "before": before.get(path, {}).get("sha256"), "after": after.get(path, {}).get("sha256")}
        for path in sorted(set(before) | set(after))
        if before.get(path) != after.get(path)
    ]
    with audit_unit(by.actor) as audit:
        imp = MlflowVersionImport.objects.select_for_update().select_related("model_version__model").get(pk=imp.pk)
        imp.latest_artifact_sha256 = manifest.sha256
        imp.artifact_changed_at = imp.artifact_changed_at or now
        imp.last_verified_at = now
        imp.save(update_fields=["latest_artifact_sha256", "artifact_changed_at", "last_verified_at"])
        details = {
            "mlflow_name": link.mlflow_name,
            "mlflow_version": imp.mlflow_version,
            "imported_sha256": imp.artifact_sha256,
            "current_sha256": manifest.sha256,
            "changed_files": changes,
        }
        audit.add(
            "mlflow.artifact_changed",
            version_target(imp.model_version),
            details={**details, "artifact_changed_at": imp.artifact_changed_at},
        )
        _raise_flag(
            by=by,
            model=imp.model_version.model,
            version=imp.model_version,
            kind=FlagKind.ARTIFACT_CHANGED,
            summary=f"{imp.model_version}: the artifact in MLflow changed after import (version here unchanged)",
            details=details,
        )
    return True


# --- sync -------------------------------------------------------------------------------------------------------


def _record_sync(link: MlflowLink, *, by: Principal, error: str = "", imported: list | None = None) -> None:
    """The sync's outcome on the link (bookkeeping, shown on the dashboard). The first failure of a
    streak is audited (``mlflow.sync_failed``, with MLflow's answer and what was imported before it),
    and so is the first success after one (``mlflow.sync_recovered``); the failures in between only
    count up ``consecutive_failures``, so an outage does not flood the log."""
    now = timezone.now()
    if error:
        fields = {
            "last_sync_at": now,
            "last_sync_status": SyncStatus.ERROR,
            "last_sync_error": error[:2000],
            "consecutive_failures": link.consecutive_failures + 1,
        }
        if link.consecutive_failures:
            MlflowLink.objects.filter(pk=link.pk).update(**fields)
            return
        with audit_unit(by.actor) as audit:
            MlflowLink.objects.filter(pk=link.pk).update(**fields)
            audit.add(
                "mlflow.sync_failed",
                link_target(link),
                details={"error": error[:2000], "imported_before_failure": imported or [], "retried": "next sync"},
            )
        return
    fields = {"last_sync_at": now, "last_sync_status": SyncStatus.OK, "last_sync_error": "", "consecutive_failures": 0}
    if not link.consecutive_failures:
        MlflowLink.objects.filter(pk=link.pk).update(**fields)
        return
    with audit_unit(by.actor) as audit:
        MlflowLink.objects.filter(pk=link.pk).update(**fields)
        audit.add(
            "mlflow.sync_recovered",
            link_target(link),
            details={"failed_syncs": link.consecutive_failures, "last_error": link.last_sync_error[:2000]},
        )


def remote_versions(link: MlflowLink, client) -> list:
    name = link.mlflow_name.replace("'", "\\'")
    out, token = [], None
    with guarded(f"listing versions of {link.mlflow_name}"):
        while True:
            page = client.search_model_versions(f"name='{name}'", max_results=200, page_token=token)
            out.extend(page)
            token = getattr(page, "token", None)
            if not token:
                break
    return sorted(out, key=lambda mv: int(mv.version) if str(mv.version).isdigit() else 0)


def mlflow_link_sync(
    *, by: Principal, link: MlflowLink, verify: bool | None = None, progress: Callable[[dict], None] | None = None
) -> dict:
    """Reconcile one link with MLflow (the model's owner, a risk officer, or a system job; anyone else
    is refused, audited as ``mlflow.sync.denied``). Raises ``Unavailable`` (after recording it on the
    link) when MLflow fails; what was imported before the failure stays, and the next sync resumes."""
    link = MlflowLink.objects.select_related("model").get(pk=link.pk)
    with refusals(by, "mlflow.sync", link_target(link)):
        if not _may_govern(by, link.model):
            raise PermissionRefused("only the model's owner or a risk officer syncs its MLflow link")
    verify = settings.MLFLOW_VERIFY_ARTIFACTS if verify is None else verify
    progress = progress or (lambda event: None)
    summary: dict[str, Any] = {
        "link": link.pk,
        "imported": [],
        "unchanged": 0,
        "changed": [],
        "refused": {},
        "pending": [],
    }
    try:
        client = mlflow_client(link.tracking_uri)
        versions = remote_versions(link, client)
        done = {i.mlflow_version: i for i in MlflowVersionImport.objects.filter(link=link)}
        for index, mv in enumerate(versions, start=1):
            number = str(mv.version)
            event = {"index": index, "total": len(versions), "version": number}
            try:
                if number in done:
                    changed = verify and mlflow_version_verify(by=by, imp=done[number])
                    if changed:
                        summary["changed"].append(number)
                    else:
                        summary["unchanged"] += 1
                    event["outcome"] = "changed" if changed else "unchanged"
                else:
                    imp = mlflow_version_import(by=by, link=link, version=number, client=client)
                    if imp is None:
                        summary["pending"].append(number)
                        event["outcome"] = "pending"
                    else:
                        summary["imported"].append(number)
                        event["outcome"] = "imported"
            except Unavailable:
                raise
            except DomainError as exc:
                summary["refused"][number] = exc.message
                event["outcome"] = f"refused: {exc.message}"
            progress(event)
        with guarded(f"reading aliases of {link.mlflow_name}"):
            aliases = dict(client.get_registered_model(link.mlflow_name).aliases or {})
        summary["aliases"] = mlflow_aliases_check(by=by, link=link, observed=aliases)
        summary["alias_writes"] = mlflow_alias_writes_flush(link=link)
    except Unavailable as exc:
        _record_sync(link, by=by, error=exc.message, imported=summary["imported"])
        raise
    _record_sync(link, by=by)
    return summary


# --- webhooks ---------------------------------------------------------------------------------------------------

WEBHOOK = Principal.system("mlflow-webhook")  # authenticated by the delivery's HMAC signature
WEBHOOK_ACTOR = WEBHOOK.actor


def _webhook_deny(
    reason: str,
    *,
    delivery_id: str,
    error: type[DomainError],
    field: str,
    code: str | None = None,
    details: dict | None = None,
):
    """Refuse a webhook delivery: audited as ``mlflow.webhook.denied`` (the one refusal helper), then raised.
    Refusals are ValidationFailed (400 ``webhook_refused``), Unauthenticated (401 ``signature_invalid``),
    NotFound, or Conflict (409 ``delivery_replayed``)."""
    target = {"type": "mlflow_delivery", "id": (delivery_id or "?")[:100]}
    with refusals(WEBHOOK, "mlflow.webhook", target):
        raise error(reason, field=field, details=details, code=code)


def verify_signature(secret: str, delivery_id: str, timestamp: str, body: bytes, signature_header: str) -> bool:
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    for candidate in (signature_header or "").split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


def mlflow_webhook_receive(*, headers: dict, body: bytes, now: dt.datetime | None = None) -> MlflowDelivery:
    """Verify and record one MLflow webhook delivery, then enqueue its work. Every refusal is audited."""
    now = now or timezone.now()
    delivery_id = (headers.get("X-MLflow-Delivery-Id") or "").strip()
    timestamp = (headers.get("X-MLflow-Timestamp") or "").strip()
    signature = (headers.get("X-MLflow-Signature") or "").strip()
    secret = settings.MLFLOW_WEBHOOK_SECRET
    if not secret:
        raise Unavailable(
            "MLFLOW_WEBHOOK_SECRET is not set: the service cannot verify MLflow deliveries; set it to the secret "
            "given to MLflow's create_webhook",
            code=UNAVAILABLE,
        )
    for header, value in (
        ("X-MLflow-Delivery-Id", delivery_id),
        ("X-MLflow-Timestamp", timestamp),
        ("X-MLflow-Signature", signature),
    ):
        if not value:
            _webhook_deny(
                f"the {header} header is missing",
                delivery_id=delivery_id,
                error=Unauthenticated,
                code="signature_invalid",
                field=header,
            )
    if len(delivery_id) > 100:
        _webhook_deny(
            "X-MLflow-Delivery-Id is too long",
            delivery_id=delivery_id,
            error=ValidationFailed,
            code="webhook_refused",
            field="X-MLflow-Delivery-Id",
        )
    if not timestamp.isdigit():
        _webhook_deny(
            "X-MLflow-Timestamp must be Unix seconds",
            delivery_id=delivery_id,
            error=ValidationFailed,
            code="webhook_refused",
            field="X-MLflow-Timestamp",
        )
    signed_at = dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
    tolerance = int(settings.MLFLOW_WEBHOOK_TOLERANCE_SECONDS)
    if abs((now - signed_at).total_seconds()) > tolerance:
        _webhook_deny(
            f"the delivery's timestamp is more than {tolerance} s from now (stale or replayed)",
            delivery_id=delivery_id,
            error=ValidationFailed,
            code="webhook_refused",
            field="X-MLflow-Timestamp",
            details={"signed_at": signed_at.isoformat()},
        )
    if not verify_signature(secret, delivery_id, timestamp, body, signature):
        _webhook_deny(
            "the signature does not match the body (wrong secret, or the body was changed)",
            delivery_id=delivery_id,
            error=Unauthenticated,
            code="signature_invalid",
            field="X-MLflow-Signature",
        )
    try:
        payload = json.loads(body)
        entity, action, data = payload["entity"], payload["action"], payload["data"]
        name = data["name"]
    except (ValueError, KeyError, TypeError):
        _webhook_deny(
            "the body is not an MLflow webhook payload (entity, action, data.name)",
            delivery_id=delivery_id,
            error=ValidationFailed,
            code="webhook_refused",
            field="body",
        )
    if (entity, action) not in WEBHOOK_EVENTS:
        _webhook_deny(
            f"event {entity}.{action} is not handled (model_version.created, model_version_alias.created/.deleted)",
            delivery_id=delivery_id,
            error=ValidationFailed,
            code="webhook_refused",
            field="body.entity",
        )
    links = list(MlflowLink.objects.filter(mlflow_name=name).select_related("model"))
    if not links:
        _webhook_deny(
            f"no model here is linked to the MLflow registered model {name!r}",
            delivery_id=delivery_id,
            error=NotFound,
            field="body.data.name",
            details={"mlflow_name": name, "event": f"{entity}.{action}"},
        )
    with audit_unit(WEBHOOK_ACTOR) as audit:
        if MlflowDelivery.objects.filter(delivery_id=delivery_id).exists():
            replay = True
        else:
            replay = False
            delivery = MlflowDelivery.objects.create(
                delivery_id=delivery_id,
                entity=entity,
                action=action,
                mlflow_name=name,
                payload=payload,
                signed_at=signed_at,
                received_at=now,
            )
            audit.add(
                "mlflow.webhook",
                {"type": "mlflow_delivery", "id": delivery_id},
                details={
                    "event": f"{entity}.{action}",
                    "data": data,
                    "links": [link.pk for link in links],
                    "delivery": delivery.pk,
                    # of the payload as the database returns it (PostgreSQL's jsonb may rewrite numbers)
                    "payload_sha256": json_sha256(
                        MlflowDelivery.objects.values_list("payload", flat=True).get(pk=delivery.pk)
                    ),
                    "signed_at": delivery.signed_at,
                    "received_at": delivery.received_at,
                },
            )
            announce("mlflow.delivery_received", delivery_id=delivery.pk)
    if replay:
        _webhook_deny(
            "this delivery id was already received (replay)",
            delivery_id=delivery_id,
            error=Conflict,
            code="delivery_replayed",
            field="X-MLflow-Delivery-Id",
        )
    return delivery


def mlflow_delivery_process(*, delivery: MlflowDelivery) -> dict:
    """The work a delivery asks for, through the same functions as the sync."""
    by = WEBHOOK
    data = delivery.payload.get("data", {})
    result: dict[str, dict[str, Any]] = {}
    for link in MlflowLink.objects.filter(mlflow_name=delivery.mlflow_name).select_related("model"):
        if delivery.entity == "model_version":
            imp = mlflow_version_import(by=by, link=link, version=str(data.get("version")))
            result[str(link.pk)] = {"imported": imp.model_version_id if imp else None}
        else:
            client = mlflow_client(link.tracking_uri)
            with guarded(f"reading aliases of {link.mlflow_name}"):
                aliases = dict(client.get_registered_model(link.mlflow_name).aliases or {})
            result[str(link.pk)] = {"aliases": mlflow_aliases_check(by=by, link=link, observed=aliases)}
            mlflow_alias_writes_flush(link=link)
    return result


# --- governed aliases -------------------------------------------------------------------------------------------


def _stage_holder(link: MlflowLink, stage: str) -> ModelVersion | None:
    """The version here that the alias of ``stage`` should point at (the latest to enter the stage)."""
    return (
        ModelVersion.objects.filter(model=link.model, stage=stage, mlflow_import__link=link)
        .order_by("-stage_changed_at", "-pk")
        .first()
    )


def desired_aliases(link: MlflowLink) -> dict[str, ModelVersion | None]:
    return {alias: _stage_holder(link, stage) for alias, stage in link.governed_aliases().items()}


def _approval_context(version: ModelVersion | None) -> tuple[int | None, list]:
    if version is None:
        return None, []
    from governance.workflow.models import StageTransition

    t = StageTransition.objects.filter(model_version=version, to_stage=version.stage).order_by("-at", "-id").first()
    return (t.request_id, t.approvers) if t else (None, [])


def _last_written(link: MlflowLink, alias: str) -> MlflowAliasWrite | None:
    return (
        MlflowAliasWrite.objects.filter(link=link, alias=alias)
        .exclude(status=AliasWriteStatus.SUPERSEDED)
        .order_by("-created_at", "-pk")
        .first()
    )


def _queue_alias_write(
    *, by: Principal, link: MlflowLink, alias: str, version: ModelVersion | None, reason: str
) -> MlflowAliasWrite:
    """Inside the caller's transaction: supersede unfinished writes of the alias and queue this one."""
    with audit_unit(by.actor) as audit:  # joins the caller's unit
        for stale in MlflowAliasWrite.objects.select_for_update().filter(
            link=link, alias=alias, status__in=(AliasWriteStatus.PENDING, AliasWriteStatus.RETRYING)
        ):
            stale.status = AliasWriteStatus.SUPERSEDED
            stale.save(update_fields=["status"])
        request_id, approvals = _approval_context(version)
        write = MlflowAliasWrite.objects.create(
            link=link,
            alias=alias,
            mlflow_version=version.mlflow_import.mlflow_version if version else "",
            model_version=version,
            promotion_request_id=request_id,
            approvals=approvals,
            reason=reason[:300],
        )
        audit.add(
            "mlflow.alias_queue",
            link_target(link),
            details={
                "write": write.pk,
                "alias": alias,
                "mlflow_version": write.mlflow_version or None,
                "model_version": version.version if version else None,
                "promotion_request": request_id,
                "reason": write.reason,
                "approvals": write.approvals,
                "created_at": write.created_at,
            },
        )
        announce("mlflow.alias_write_queued", write_id=write.pk, retry_at=None)
    return write


def mlflow_alias_writes_plan(*, by: Principal, model_id: int, reason: str) -> list[MlflowAliasWrite]:
    """After a stage change here: queue a write for each governed alias whose target moved."""
    link = MlflowLink.objects.select_related("model").filter(model_id=model_id).first()
    if link is None:
        return []
    queued = []
    with audit_unit(by.actor):
        link = MlflowLink.objects.select_for_update().select_related("model").get(pk=link.pk)
        for alias, version in desired_aliases(link).items():
            last = _last_written(link, alias)
            wanted = version.mlflow_import.mlflow_version if version else ""
            if last is not None and last.mlflow_version == wanted:
                continue
            if last is None and version is None:
                continue  # never written and nothing to point at: leave MLflow alone
            queued.append(_queue_alias_write(by=by, link=link, alias=alias, version=version, reason=reason))
    return queued


def _backoff(attempts: int) -> dt.timedelta:
    base = float(settings.MLFLOW_ALIAS_RETRY_BASE_SECONDS)
    return dt.timedelta(seconds=min(base * (2 ** max(attempts - 1, 0)), float(settings.MLFLOW_ALIAS_RETRY_MAX_SECONDS)))


def mlflow_alias_write_attempt(*, write: MlflowAliasWrite, by: Principal | None = None) -> MlflowAliasWrite:
    """Try one alias write against MLflow; audited with MLflow's response, or rescheduled with backoff.

    Without ``by`` the bridge's own writer retries (Celery, the flush of a sync). A person retrying
    (the admin's "retry now") must be the model's owner or a risk officer, as for the link itself;
    anyone else is refused, audited as ``mlflow.alias_write_retry.denied``."""
    by = by or ALIAS_WRITER
    write = MlflowAliasWrite.objects.select_related("link__model", "model_version").get(pk=write.pk)
    with refusals(by, "mlflow.alias_write_retry", link_target(write.link), details={"write": write.pk}):
        if not _may_govern(by, write.link.model):
            raise PermissionRefused("only the model's owner or a risk officer retries its MLflow alias writes")
    if write.status not in (AliasWriteStatus.PENDING, AliasWriteStatus.RETRYING):
        return write
    link = write.link
    attempts = write.attempts + 1
    try:
        client = mlflow_client(link.tracking_uri)
        with guarded(f"writing alias @{write.alias} on {link.mlflow_name}"):
            if write.mlflow_version:
                client.set_registered_model_alias(link.mlflow_name, write.alias, write.mlflow_version)
                held = client.get_model_version_by_alias(link.mlflow_name, write.alias)
                response: dict[str, Any] = {
                    "alias": write.alias,
                    "version": str(held.version),
                    "aliases": list(held.aliases or []),
                }
            else:
                try:
                    client.delete_registered_model_alias(link.mlflow_name, write.alias)
                    response = {"alias": write.alias, "deleted": True}
                except Exception as exc:  # an alias already absent is the wanted state
                    if "not found" not in str(exc).lower() and "does not exist" not in str(exc).lower():
                        raise
                    response = {"alias": write.alias, "deleted": False, "detail": str(exc)[:200]}
    except DomainError as exc:
        retry_at = timezone.now() + _backoff(attempts)
        with audit_unit(by.actor) as audit:
            MlflowAliasWrite.objects.filter(pk=write.pk).update(
                attempts=attempts, last_error=exc.message[:2000], next_attempt_at=retry_at
            )
            w = MlflowAliasWrite.objects.select_for_update().get(pk=write.pk)
            if w.status == AliasWriteStatus.PENDING:
                w.status = AliasWriteStatus.RETRYING
                w.save(update_fields=["status"])
            audit.add(
                "mlflow.alias_write_failed",
                link_target(link),
                details={
                    "write": write.pk,
                    "alias": write.alias,
                    "mlflow_version": write.mlflow_version or None,
                    "attempt": attempts,
                    "error": exc.message,
                    "next_attempt_at": retry_at.isoformat(),
                },
            )
        write.refresh_from_db()
        announce("mlflow.alias_write_queued", write_id=write.pk, retry_at=write.next_attempt_at.isoformat())
        return write
    with audit_unit(by.actor) as audit:
        w = MlflowAliasWrite.objects.select_for_update().get(pk=write.pk)
        if w.status not in (AliasWriteStatus.PENDING, AliasWriteStatus.RETRYING):
            return w
        w.status, w.attempts, w.response, w.done_at, w.last_error = (
            AliasWriteStatus.DONE,
            attempts,
            response,
            timezone.now(),
            "",
        )
        w.save(update_fields=["status", "attempts", "response", "done_at", "last_error"])
        audit.add(
            "mlflow.alias_set" if w.mlflow_version else "mlflow.alias_delete",
            link_target(link),
            details={
                "write": w.pk,
                "alias": w.alias,
                "mlflow_version": w.mlflow_version or None,
                "model_version": write.model_version.version if write.model_version else None,
                "promotion_request": w.promotion_request_id,
                "attempts": attempts,
                "mlflow_response": response,
                "done_at": w.done_at,
            },
        )
    return w


def mlflow_alias_writes_flush(*, link: MlflowLink | None = None, due_only: bool = False) -> dict:
    """Attempt the unfinished alias writes (of one link, or all); returns {write id: status}."""
    qs = MlflowAliasWrite.objects.filter(status__in=(AliasWriteStatus.PENDING, AliasWriteStatus.RETRYING))
    if link is not None:
        qs = qs.filter(link=link)
    if due_only:
        qs = qs.filter(next_attempt_at__lte=timezone.now())
    return {w.pk: mlflow_alias_write_attempt(write=w).status for w in qs.order_by("created_at", "pk")}


def mlflow_aliases_check(*, by: Principal, link: MlflowLink, observed: dict[str, str]) -> dict:
    """Compare MLflow's aliases (``observed``: alias -> version) with the governed ones.

    Only governed aliases are looked at; a governed alias whose write is still in flight is skipped.
    A mismatch is audited, flagged on the model (owner and risk officers notified) once per observed
    value, and restored when the link's policy says so."""
    link = MlflowLink.objects.select_related("model").get(pk=link.pk)
    report = {}
    for alias, version in desired_aliases(link).items():
        expected = version.mlflow_import.mlflow_version if version else None
        seen = str(observed[alias]) if observed.get(alias) not in (None, "") else None
        last = _last_written(link, alias)
        if last is not None and last.status in (AliasWriteStatus.PENDING, AliasWriteStatus.RETRYING):
            report[alias] = "write in flight"
            continue
        if last is None and expected is None:
            report[alias] = "not governed yet"
            continue
        if seen == expected:
            report[alias] = "ok"
            continue
        report[alias] = f"out of band: MLflow has {seen or 'no alias'}, governed {expected or 'no alias'}"
        already = MlflowFlag.objects.filter(
            model=link.model,
            kind=FlagKind.ALIAS_OUT_OF_BAND,
            resolved_at__isnull=True,
            details__alias=alias,
            details__observed=seen,
            details__expected=expected,
        ).exists()
        restore = link.out_of_band == OutOfBandPolicy.RESTORE
        if already and not restore:
            continue
        with audit_unit(by.actor) as audit:
            details = {
                "alias": alias,
                "observed": seen,
                "expected": expected,
                "policy": link.out_of_band,
                "mlflow_name": link.mlflow_name,
            }
            audit.add("mlflow.alias_out_of_band", link_target(link), details=details)
            if not already:
                _raise_flag(
                    by=by,
                    model=link.model,
                    version=version,
                    kind=FlagKind.ALIAS_OUT_OF_BAND,
                    summary=(
                        f"@{alias} of {link.mlflow_name} was moved in MLflow to {seen or 'nothing'} outside the "
                        f"workflow (governed: {expected or 'no alias'})"
                    ),
                    details=details,
                )
            if restore:
                _queue_alias_write(
                    by=by,
                    link=link,
                    alias=alias,
                    version=version,
                    reason=f"restore after an out-of-band change (MLflow had {seen or 'no alias'})",
                )
    return report


def on_stage_changed(**payload) -> None:
    """Subscriber of model_version.promoted / rolled_back / stage_changed (after commit)."""
    version_id = payload.get("version_id")
    if version_id is None:
        return
    version = ModelVersion.objects.filter(pk=version_id).only("model_id").first()
    if version is None:
        return
    reason = "rollback" if payload.get("is_rollback") or "retired_version_id" in payload else "stage change"
    if payload.get("request_id"):
        reason = f"{reason} by promotion request #{payload['request_id']}"
    if payload.get("to_stage"):
        reason = f"{reason}: {payload.get('from_stage')} -> {payload['to_stage']}"
    try:
        mlflow_alias_writes_plan(by=ALIAS_WRITER, model_id=version.model_id, reason=reason)
    except Exception:  # the next sync plans again
        logger.exception("planning governed alias writes for model %s failed", version.model_id)

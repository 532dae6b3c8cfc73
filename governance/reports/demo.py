"""Demo narratives and the two sample packs for the demo model (idempotent)."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings

from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.registry.models import ModelVersion
from governance.reports.models import DocumentationPack, NarrativeEntry, PackStatus
from governance.reports.services import narrative_set, pack_request


def samples_dir() -> Path:
    return Path(settings.DEMO_SAMPLES_DIR)


SAMPLE_NAMES = {"sr11-7": "sr11-7-german-credit-scoring.pdf", "eu-ai-act": "eu-ai-act-german-credit-scoring.pdf"}

# A few statements, written by the people who own them; the rest stay NOT PROVIDED on purpose,
# so the samples show both states.
NARRATIVES = (
    (
        "dana.developer",
        "intended_purpose",
        None,
        "Supports consumer-credit officers by estimating the probability that an applicant will not repay. "
        "The officer decides; the score is one input among several and is never used alone to refuse credit.",
    ),
    (
        "dana.developer",
        "major_limitations",
        "1.0.0",
        "Trained on 700 historical applications from one lender (UCI Statlog German Credit). Four numeric "
        "features only; no information on current employment or income. Not validated for small-business "
        "lending.",
    ),
    (
        "victor.validator",
        "validation_opinion",
        "1.0.0",
        "Approved for production use with conditions: monitor the disparate impact ratio by sex monthly and "
        "re-validate within twelve months or when the holdout AUC falls below 0.60.",
    ),
)


def seed(command, by: Principal) -> None:
    version = ModelVersion.objects.select_related("model").get(model__name="german-credit-scoring", version="1.0.0")
    for username, key, version_label, text in NARRATIVES:
        author = User.objects.get(username=username)
        if NarrativeEntry.objects.filter(model=version.model, key=key).exists():
            continue
        narrative_set(
            by=Principal.for_user(author, auth="cli"),
            model=version.model,
            key=key,
            text=text,
            version=version if version_label else None,
        )
    auditor = User.objects.get(username="alex.auditor")
    samples_dir().mkdir(parents=True, exist_ok=True)
    for regime, name in SAMPLE_NAMES.items():
        pack = (
            DocumentationPack.objects.filter(model_version=version, regime=regime, status=PackStatus.DONE)
            .order_by("-as_of_seq")
            .first()
        )
        if pack is None:
            pack = pack_request(by=Principal.for_user(auditor, auth="cli"), version=version, regime=regime)
            pack.refresh_from_db()
        if pack.status == PackStatus.DONE:
            with pack.pdf.open("rb") as source, open(samples_dir() / name, "wb") as target:
                shutil.copyfileobj(source, target)
            command.stderr.write(f"  {regime} pack {pack.pack_id} (as of seq {pack.as_of_seq}) -> docs/samples/{name}")
        else:
            command.stderr.write(f"  {regime} pack is {pack.status}: {pack.failure_reason or pack.progress}")

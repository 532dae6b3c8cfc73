"""Demo narratives and the two sample packs for the demo model (idempotent)."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings

from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.registry import selectors as registry_selectors
from governance.registry.models import ModelVersion
from governance.reports.models import DocumentationPack, NarrativeEntry, PackStatus
from governance.reports.services import narrative_set, pack_request


def samples_dir() -> Path:
    return Path(settings.DEMO_SAMPLES_DIR)


SAMPLE_NAMES = {
    "sr11-7": "sr11-7-german-credit-scoring.pdf",
    "eu-ai-act": "eu-ai-act-german-credit-scoring.pdf",
    "pra-ss1-23": "pra-ss1-23-german-credit-scoring.pdf",
}

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
    (
        "dana.developer",
        "design_rationale",
        "1.0.0",
        "A logistic scorecard on four numeric application features (loan duration, amount in thousands, "
        "instalment rate, age), fitted with scikit-learn LogisticRegression (C = 1.0) on rows 1-700. A linear "
        "score was chosen so that every coefficient can be read and challenged and adverse-action reasons can "
        "be derived directly from the terms.\n\nThe coefficients have the expected signs: longer and larger "
        "loans and higher instalment rates raise the estimated probability of bad credit; age lowers it.",
    ),
    (
        "dana.developer",
        "data_gaps_remediation",
        "1.0.0",
        "Known limitations of the UCI Statlog German Credit data: the personal-status attribute (column 9) "
        "mixes sex and marital status, so sex is derived from it and cannot be separated from marital status; "
        "the file has no rows coded 'female single' (A95), so that group cannot be assessed at all. The data "
        "are undated, so no out-of-time sample exists. 1,000 applications from one lender in the 1990s are "
        "not representative of today's applicants; no remediation is possible within this data set.",
    ),
    (
        "victor.validator",
        "outcomes_explanation",
        "1.0.0",
        "On the hold-out rows 701-1000 the service's own computation gives AUC 0.64, below the 0.70 the policy "
        "requires, while the pipeline reported 0.781 on the same rows. The approval relied on the reported "
        "figure; the difference is unexplained and is the first finding to resolve. Outcomes cannot be "
        "back-tested out of time because the data carry no dates.",
    ),
    (
        "rita.risk",
        "effective_challenge",
        "1.0.0",
        "The validator questioned the use of age as an input and the small groups in the fairness "
        "evaluation (25 and 18 applicants under 25). The developer kept age (it lowers the estimated risk for "
        "older applicants) and documented the small groups; the challenge led to the monthly fairness "
        "monitoring condition in the validation opinion.",
    ),
    (
        "rita.risk",
        "use_restrictions",
        "1.0.0",
        "Use is restricted to consumer instalment loans up to EUR 20,000 as one input to a credit officer's "
        "decision; never for automatic refusal, small-business lending or pricing. Compensating control: "
        "every refusal in which the score was decisive is reviewed by a second officer until the computed "
        "AUC and the fairness metrics meet the policy again.",
    ),
    (
        "rita.risk",
        "tiering_rationale",
        None,
        "Tier 1: the score informs credit decisions about natural persons across the retail book (high "
        "materiality and breadth of use), and it is a high-risk system under the EU AI Act (Annex III 5(b)).",
    ),
)

# Left NOT PROVIDED on purpose so the samples show both states: the executive synopsis, key
# assumptions, conceptual soundness, process verification, benchmarking, internal audit's assessment,
# the fair-lending determinations and most EU Annex IV statements (declaration, standards, FRIA).


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
    # the samples are the packs of the regimes governing the demo model (seeded as all three)
    for regime in registry_selectors.governing_regimes(version.model):
        name = SAMPLE_NAMES.get(regime, f"{regime}-german-credit-scoring.pdf")
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

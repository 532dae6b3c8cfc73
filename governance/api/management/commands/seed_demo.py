"""Demo data for ``make run``: one person per role, a pipeline account and the German Credit model.

Idempotent: a second run finds everything in place and creates nothing new. Other apps add
their demo steps to ``DEMO_STEPS`` (evaluations, promotions, documentation packs). The command
lives in the API app, the one app that may depend on every other; the demo's names and password
are in ``governance.common.demo``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from governance.accounts.models import User
from governance.accounts.principal import Principal
from governance.accounts.services import service_account_create, user_create
from governance.common import demo
from governance.common.demo import DEMO_PASSWORD, DEMO_PEOPLE, MODEL_NAME, PIPELINE_ACCOUNT
from governance.registry import services as registry
from governance.registry.models import ModelVersion, RegisteredModel


def token_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-pipeline-token"


def seed_people(command: BaseCommand, by: Principal) -> None:
    for username, first, last, roles, superuser in DEMO_PEOPLE:
        if User.objects.filter(username=username).exists():
            continue
        user_create(
            by=by,
            username=username,
            password=DEMO_PASSWORD,
            roles=roles,
            email=f"{username}@example.com",
            first_name=first,
            last_name=last,
            is_staff=True,
            is_superuser=superuser,
        )
        command.stderr.write(f"  created user {username}")
    if not User.objects.filter(username=PIPELINE_ACCOUNT).exists():
        _, key = service_account_create(by=by, name=PIPELINE_ACCOUNT, expires_days=365)
        path = token_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(key + "\n")
        os.chmod(path, 0o600)
        command.stderr.write(f"  created service account {PIPELINE_ACCOUNT} (token saved in {path})")


# The demo bank lends in the UK and the EU and has a US branch: all three regimes govern the model.
DEMO_REGIMES = ("sr11-7", "eu-ai-act", "pra-ss1-23")


def seed_model(command: BaseCommand, by: Principal) -> None:
    dana = User.objects.get(username="dana.developer")
    pipeline = User.objects.get(username=PIPELINE_ACCOUNT)
    model = RegisteredModel.objects.filter(name=MODEL_NAME).first()
    if model is None:
        model = registry.registered_model_create(
            by=Principal.for_user(User.objects.get(username="rita.risk"), auth="cli"),
            name=MODEL_NAME,
            title="German Credit application scorecard",
            owner=dana,
            purpose=(
                "Estimates the probability that a consumer-credit applicant will not repay, to support "
                "(not replace) a credit officer's decision. Trained on the UCI Statlog German Credit data."
            ),
            business_unit="Retail lending",
            eu_ai_act_category="high",
            annex_iii_area="5_essential_services",
            risk_tier="tier_1",
            governing_regimes=list(DEMO_REGIMES),
        )
        command.stderr.write(f"  registered model {MODEL_NAME}")
    elif not model.governing_regimes:  # a demo database seeded before the field existed
        model = registry.registered_model_update(
            by=Principal.for_user(User.objects.get(username="rita.risk"), auth="cli"),
            model=model,
            data={"governing_regimes": list(DEMO_REGIMES)},
        )
    data_sha = demo.sha256_file(demo.DATA_FILE)
    for version, registrant, commit in (
        ("1.0.0", dana, "3f2a9c1d7e5b4a6c8d0e1f2a3b4c5d6e7f8a9b0c"),
        ("1.1.0", pipeline, "9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c"),
    ):
        if ModelVersion.objects.filter(model=model, version=version).exists():
            continue
        artifact = demo.ARTIFACTS[version]
        registry.model_version_create(
            by=Principal.for_user(registrant, auth="cli"),
            model=model,
            version=version,
            artifact_uri=demo.relative(artifact),
            artifact_sha256=demo.sha256_file(artifact),
            training_data_ref=f"{demo.relative(demo.DATA_FILE)}#rows=1-700",
            training_data_sha256=data_sha,
            code_commit=commit,
            framework="scikit-learn 1.x LogisticRegression (exported scorecard)",
            parameters={"C": "1.0", "max_iter": 1000, "features": json.loads(artifact.read_text())["features"]},
            description=f"Logistic scorecard {version}.",
        )
        command.stderr.write(f"  registered {MODEL_NAME} {version}")


def seed_workflow(command: BaseCommand, by: Principal) -> None:
    from governance.workflow import demo as workflow_demo

    workflow_demo.seed(command, by)


def seed_packs(command: BaseCommand, by: Principal) -> None:
    from governance.reports import demo as reports_demo

    reports_demo.seed(command, by)


def seed_evaluations(command: BaseCommand, by: Principal) -> None:
    """Computed evaluations of both versions from the German Credit data (after the workflow walk,
    so the production version's monitoring results feed its review flags, as they would in life)."""
    from governance.evaluations import demo as evaluations_demo

    evaluations_demo.seed(command, by)


def seed_oversight(command: BaseCommand, by: Principal) -> None:
    """A completed validation with two findings, a serious incident, a monitoring schedule with one missed
    check and the post-market monitoring plan (issue 17)."""
    from governance.oversight import demo as oversight_demo

    oversight_demo.seed(command, by)


# oversight before packs, so the packs the demo generates show its validation, findings, missed check,
# plan and incident
DEMO_STEPS = [seed_people, seed_model, seed_workflow, seed_evaluations, seed_oversight, seed_packs]


class Command(BaseCommand):
    help = "Load the demo data (idempotent) and print the logins."

    def handle(self, *args, **options):
        principal = Principal.for_command("seed_demo")
        for step in DEMO_STEPS:
            self.stderr.write(f"seed_demo: {step.__name__.replace('_', ' ')}")
            step(self, principal)
        self.print_logins()

    def print_logins(self) -> None:
        lines = ["", f"Demo logins (password for all: {DEMO_PASSWORD}):"]
        for username, _first, _last, roles, superuser in DEMO_PEOPLE:
            lines.append(f"  {username:<18} {', '.join(roles) or ('superuser' if superuser else '')}")
        path = token_file()
        if path.exists():
            lines.append(f"Pipeline API token ({PIPELINE_ACCOUNT}): {path.read_text().strip()}")
            lines.append(f"  (saved in {path})")
        self.stdout.write("\n".join(lines))

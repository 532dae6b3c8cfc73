"""In Chromium: sign in through the real provider, get roles from groups, sign by step-up, and be
refused on a stale re-authentication. Local fixtures (the shared tests/browser ones may replace them)."""

from __future__ import annotations

import os
import shutil
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from governance.accounts.models import User
from governance.workflow.models import Approval
from tests.conftest import IN_CI
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.sso.conftest import PASSWORDS, SUBJECTS, sso_settings_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium():
    if not os.path.exists(CHROMIUM) or shutil.which("chromium") is None:
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls of the test are still
    # synchronous (the documented switch for this case).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def site(live_server, settings, provider):
    """mlgov's live server on 127.0.0.1 (a loopback redirect URI the provider accepts on any port)."""
    sso_settings_for(settings, provider.issuer)
    parts = urlsplit(live_server.url)
    return f"http://127.0.0.1:{parts.port}"


def sign_in_at_provider(page, username: str) -> None:
    page.fill("#username", username)
    page.fill("#password", PASSWORDS[username])
    page.click("#sign-in")


@pytest.mark.django_db(transaction=True)
def test_sign_in_roles_step_up_and_stale_refusal_in_the_browser(chromium, site, provider, developer, version):
    wf.good_evidence(version)
    first = wf.request(version, developer, "staging")
    second_version = registry_factories.model_version(model=version.model, user=developer)
    wf.good_evidence(second_version)
    second = wf.request(second_version, developer, "staging")

    context = chromium.new_context()
    foreign: list[str] = []

    def offline(route):
        host = urlsplit(route.request.url).hostname
        if host not in ("127.0.0.1", "localhost"):
            foreign.append(route.request.url)
            return route.abort()
        return route.continue_()

    context.route("**/*", offline)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        # Sign in through the provider: a new user, with the role their group gives.
        page.goto(f"{site}/admin/login/")
        page.click("#sso-login")
        page.wait_for_url(f"{provider.issuer}/interaction/**")
        sign_in_at_provider(page, "victor")
        page.wait_for_url(f"{site}/admin/")
        victor = User.objects.get(username="victor")
        assert victor.role_names == ["validator"]
        assert victor.oidc_identity.subject == SUBJECTS["victor"]

        # Sign the first request: the provider asks for the password again (step-up).
        time.sleep(1.1)
        page.goto(f"{site}/admin/workflow/promotionrequest/{first.pk}/change/")
        assert "sign in again at Test IdP" in page.inner_text("#step-up-note")
        page.fill("#id_justification", "Evidence reviewed in the browser.")
        page.click("button.btn.ok")
        page.wait_for_url(f"{provider.issuer}/interaction/**")
        assert "re-authentication requested" in page.content()
        sign_in_at_provider(page, "victor")
        page.wait_for_url(f"{site}/admin/workflow/promotionrequest/{first.pk}/change/")
        assert "Signed after re-authentication" in page.content()
        approval = Approval.objects.get(request=first)
        assert approval.reauthentication["method"] == "oidc_step_up"
        assert approval.reauthentication["subject"] == SUBJECTS["victor"]
        assert f"re-authenticated at {provider.issuer} at {approval.reauthentication['auth_time']}" in page.content()

        # The second request, with a provider that ignores prompt=login/max_age=0: it answers from its
        # session, auth_time predates the signing, and the signature is refused.
        time.sleep(1.1)

        def strip_step_up(route):
            # mlgov's redirect to the provider, with prompt and max_age taken out.
            response = route.fetch(max_redirects=0)
            location = response.headers.get("location", "")
            if response.status != 302 or not location.startswith(f"{provider.issuer}/auth?"):
                return route.fulfill(response=response)
            parts = urlsplit(location)
            params = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("prompt", "max_age")]
            headers = {**response.headers, "location": urlunsplit(parts._replace(query=urlencode(params)))}
            return route.fulfill(status=302, headers=headers, body="")

        page.route(f"{site}/admin/workflow/promotionrequest/{second.pk}/change/", strip_step_up)
        page.goto(f"{site}/admin/workflow/promotionrequest/{second.pk}/change/")
        page.fill("#id_justification", "Evidence reviewed in the browser.")
        page.click("button.btn.ok")
        page.wait_for_url(f"{site}/admin/workflow/promotionrequest/{second.pk}/change/")
        assert "Refused (recorded in the audit log): stale re-authentication" in page.content()
        assert not Approval.objects.filter(request=second).exists()
        assert foreign == []
    finally:
        context.close()

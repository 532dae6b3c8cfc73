"""Single sign-on (issue 18) in Chromium: sign in through the real provider, get roles from groups,
sign by step-up, and be refused on a stale re-authentication."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from governance.accounts.models import User
from governance.workflow.models import Approval
from tests.browser.conftest import screenshot
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.sso import conftest as sso_fixtures
from tests.sso.conftest import PASSWORDS, SUBJECTS, sso_settings_for

# The real OpenID provider of tests/sso (a Node.js process on a free loopback port); this test lives
# here to share the session's one Chromium (tests/browser/conftest.py).
oidc_provider = sso_fixtures.oidc_provider
provider = sso_fixtures.provider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server, settings, provider):
    """mlgov's live server pointed at the test provider (loopback redirect URIs match on any port)."""
    sso_settings_for(settings, provider.issuer)
    return live_server.url


def sign_in_at_provider(tab, username: str) -> None:
    tab.fill("#username", username)
    tab.fill("#password", PASSWORDS[username])
    tab.click("#sign-in")


def test_sign_in_roles_step_up_and_stale_refusal_in_the_browser(page, site, provider, developer, version, tmp_path):
    wf.good_evidence(version)
    first = wf.request(version, developer, "staging")
    second_version = registry_factories.model_version(model=version.model, user=developer)
    wf.good_evidence(second_version)
    second = wf.request(second_version, developer, "staging")

    page.set_default_timeout(30_000)
    try:
        # Sign in through the provider: a new user, with the role their group gives.
        page.goto(f"{site}/admin/login/")
        screenshot(page, "sso-login", tmp_path)
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
        screenshot(page, "sso-step-up-provider", tmp_path)
        sign_in_at_provider(page, "victor")
        page.wait_for_url(f"{site}/admin/workflow/promotionrequest/{first.pk}/change/")
        assert "Signed after re-authentication" in page.content()
        approval = Approval.objects.get(request=first)
        assert approval.reauthentication["method"] == "oidc_step_up"
        assert approval.reauthentication["subject"] == SUBJECTS["victor"]
        assert f"re-authenticated at {provider.issuer} at {approval.reauthentication['auth_time']}" in page.content()
        screenshot(page, "sso-step-up-signed", tmp_path)

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
    finally:
        page.unroute_all()

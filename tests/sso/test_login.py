"""Single sign-on against a real OpenID provider: sign-in, roles from groups, sessions, bad input."""

from __future__ import annotations

import base64
import json
import re
import secrets
import time

import pytest
import requests
from mozilla_django_oidc.utils import generate_code_challenge

from audit.models import AuditEvent
from governance.accounts.models import ApiToken, OidcIdentity, User
from governance.accounts.oidc import OidcError, reset_caches, verify_id_token
from tests.sso.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    GROUP_ROLE_MAP,
    SUBJECTS,
    TOOL_DIR,
    OpAgent,
    query,
    rp_path,
    sso_settings_for,
    sso_sign_in,
    start_provider,
    stop_provider,
)

pytestmark = pytest.mark.django_db


def events(action: str) -> list[dict]:
    return [json.loads(bytes(e.record)) for e in AuditEvent.objects.filter(action=action).order_by("seq")]


def id_token_from(provider, *, client_id=CLIENT_ID, secret=CLIENT_SECRET, username="rita", nonce="n-123") -> str:
    """An ID token issued by the real provider to ``client_id`` (the code flow, done by hand)."""
    agent, verifier, state = OpAgent(), secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "scope": "openid email profile groups",
        "redirect_uri": "http://127.0.0.1/oidc/callback/",
        "state": state,
        "nonce": nonce,
        "code_challenge": generate_code_challenge(verifier, "S256"),
        "code_challenge_method": "S256",
    }
    callback = agent.authorize(f"{provider.issuer}/auth?{requests.compat.urlencode(params)}", username)
    answer = query(callback)
    assert answer["state"] == state
    token = requests.post(
        f"{provider.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": params["redirect_uri"],
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
        timeout=10,
    )
    token.raise_for_status()
    return token.json()["id_token"]


# --- sign-in and roles ---------------------------------------------------------------------------------------------


def test_new_user_signs_in_and_gets_roles_from_groups(sso, rp):
    agent = OpAgent()
    response = sso_sign_in(rp, agent, "rita")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    user = User.objects.get(username="rita")
    assert user.role_names == ["risk_officer"]
    assert not user.has_usable_password() and user.is_staff and not user.is_service_account
    identity = OidcIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject) == (sso.issuer, SUBJECTS["rita"])
    assert rp.get("/admin/").status_code == 200  # a real admin session
    link = events("sso.identity.link")[-1]
    assert link["data"]["roles"] == ["risk_officer"]
    assert link["data"]["unmapped"] == ["all-staff"]  # groups that give no role are listed, not granted
    assert events("user.create")[-1]["object"]["username"] == "rita"
    # Signing in again changes nothing and creates nobody.
    rp.post("/admin/logout/")
    sso_sign_in(rp, OpAgent(), "rita")
    assert User.objects.filter(username="rita").count() == 1
    assert events("user.roles_change") == []


def test_group_change_at_the_provider_changes_roles_at_next_sign_in(sso, rp):
    sso_sign_in(rp, OpAgent(), "victor")
    victor = User.objects.get(username="victor")
    assert victor.role_names == ["validator"]
    sso.set_groups("victor", ["mlgov-auditors", "mlgov-validators"])
    sso_sign_in(rp, OpAgent(), "victor")
    assert victor.role_names == ["auditor", "validator"]
    sso.set_groups("victor", ["mlgov-auditors"])
    sso_sign_in(rp, OpAgent(), "victor")
    assert victor.role_names == ["auditor"]
    change = events("user.roles_change")[-1]
    assert change["data"]["removed"] == ["validator"] and change["data"]["after"] == ["auditor"]
    assert change["actor"]["auth"] == "oidc"


def test_removed_from_every_group_loses_roles_session_and_tokens(sso, rp):
    from governance.accounts.services import api_token_authenticate, api_token_issue
    from tests.factories.accounts import ADMIN

    sso_sign_in(rp, OpAgent(), "ada")
    ada = User.objects.get(username="ada")
    _, key = api_token_issue(by=ADMIN, user=ada)
    assert api_token_authenticate(key)[0] == ada
    rp.post("/admin/logout/")
    sso.set_groups("ada", ["all-staff"])
    response = sso_sign_in(rp, OpAgent(), "ada")
    assert response.status_code == 403
    assert b"none of your groups" in response.content
    assert ada.role_names == []
    assert rp.get("/admin/").status_code == 302  # not signed in
    denied = events("sso.login.denied")[-1]
    assert denied["actor"]["username"] == "ada" and denied["data"]["groups"] == ["all-staff"]
    assert events("user.roles_change")[-1]["data"]["removed"] == ["auditor"]
    from governance.accounts.services import TokenRejected

    with pytest.raises(TokenRejected, match="no role"):
        api_token_authenticate(key)
    assert ApiToken.objects.filter(user=ada).count() == 1


def test_unknown_groups_grant_nothing_and_create_nobody(sso, rp):
    response = sso_sign_in(rp, OpAgent(), "nobody")
    assert response.status_code == 403
    assert b"canteen-committee" in response.content and b"Nothing was granted" in response.content
    assert not User.objects.filter(username="nobody").exists()
    assert events("sso.login.denied")[-1]["object"]["id"] == "00u-nobody-0005"


def test_a_local_account_with_the_same_name_is_never_taken_over(sso, rp):
    from tests.factories.accounts import person

    person("risk_officer", username="dev")
    response = sso_sign_in(rp, OpAgent(), "dev")
    assert response.status_code == 403 and b"never merged by name" in response.content
    assert not OidcIdentity.objects.exists()


def test_pkce_state_and_nonce_are_sent(sso, rp):
    start = rp.get("/oidc/login/?next=/admin/workflow/")
    params = query(start["Location"])
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 32
    assert params["redirect_uri"] == "http://127.0.0.1/oidc/callback/"
    callback = OpAgent().authorize(start["Location"], "rita")
    assert rp.get(rp_path(callback))["Location"] == "/admin/workflow/"


# --- bad input -----------------------------------------------------------------------------------------------------


def test_replayed_state_is_refused(sso, rp):
    start = rp.get("/oidc/login/")
    callback = OpAgent().authorize(start["Location"], "rita")
    assert rp.get(rp_path(callback)).status_code == 302
    rp.post("/admin/logout/")
    replay = rp.get(rp_path(callback))
    assert replay.status_code == 400 and b"already used state" in replay.content
    assert rp.get("/admin/").status_code == 302


def test_answer_for_another_sign_in_is_refused(sso, rp):
    first = rp.get("/oidc/login/")["Location"]
    second = rp.get("/oidc/login/")["Location"]
    callback = query(OpAgent().authorize(first, "rita"))
    # The code of the first sign-in delivered with the state of the second: its PKCE verifier does not
    # match the first one's challenge, so the provider refuses the code (the nonce would not match either).
    response = rp.get(f"/oidc/callback/?code={callback['code']}&state={query(second)['state']}")
    assert response.status_code == 403 and b"refused the sign-in code (invalid_grant" in response.content
    assert not User.objects.filter(username="rita").exists()


def test_error_from_the_provider_is_shown(sso, rp):
    start = query(rp.get("/oidc/login/")["Location"])
    response = rp.get(f"/oidc/callback/?error=access_denied&error_description=cancelled&state={start['state']}")
    assert response.status_code == 403 and b"access_denied" in response.content


def test_tampered_id_token_is_refused(sso):
    token = id_token_from(sso)
    assert verify_id_token(token, nonce="n-123")["sub"] == SUBJECTS["rita"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = SUBJECTS["victor"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(OidcError, match="signature does not verify"):
        verify_id_token(f"{header}.{forged}.{signature}", nonce="n-123")
    with pytest.raises(OidcError, match="nonce does not match"):
        verify_id_token(token, nonce="another-nonce")
    unsigned = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=").decode()
    with pytest.raises(OidcError, match="not accepted"):
        verify_id_token(f"{unsigned}.{payload}.", nonce="n-123")


def test_token_for_another_application_is_refused(sso):
    token = id_token_from(sso, client_id="other-app", secret="other-app-test-client-secret")
    with pytest.raises(OidcError, match="another application"):
        verify_id_token(token, nonce="n-123")


def test_expired_id_token_is_refused(sso, settings):
    settings.OIDC_CLOCK_SKEW_SECONDS = 0
    token = id_token_from(sso, client_id="mlgov-short-lived", secret="mlgov-short-lived-test-client-secret")
    assert verify_id_token(token, nonce="n-123", client_id="mlgov-short-lived")
    time.sleep(3.1)
    with pytest.raises(OidcError, match="expired"):
        verify_id_token(token, nonce="n-123", client_id="mlgov-short-lived")


def test_wrong_issuer_and_key_rotation(sso, settings, tmp_path):
    """A second provider: its tokens are refused; restarted with new keys, sign-in still works."""
    import shutil

    from governance.accounts import oidc

    config = tmp_path / "config.json"
    shutil.copy(TOOL_DIR / "config.json", config)
    other = start_provider(config)
    try:
        foreign = id_token_from(other)
        with pytest.raises(OidcError, match="key the provider does not publish"):
            verify_id_token(foreign, nonce="n-123")
        # Even if the configured provider published the other one's key, its issuer is not ours.
        jwks_uri = oidc.provider_metadata()["jwks_uri"]
        oidc._jwks[jwks_uri] = requests.get(f"{other.issuer}/jwks", timeout=10).json()["keys"]
        with pytest.raises(OidcError, match="another issuer"):
            verify_id_token(foreign, nonce="n-123")
        # Key rotation: the provider restarts on the same address with a new key; the cached keys are
        # stale, and mlgov fetches the JWKS again when it meets the new key id.
        port = other.issuer.rsplit(":", 1)[1]
        sso_settings_for(settings, other.issuer)
        assert verify_id_token(id_token_from(other), nonce="n-123")
        cached = list(oidc._jwks[oidc.provider_metadata()["jwks_uri"]])
        stop_provider(other.process)
        other = start_provider(config, port=int(port))
        rotated = id_token_from(other)
        assert json.loads(base64.urlsafe_b64decode(rotated.split(".")[0] + "=="))["kid"] not in {
            k["kid"] for k in cached
        }
        assert verify_id_token(rotated, nonce="n-123")["sub"] == SUBJECTS["rita"]
    finally:
        stop_provider(other.process)
        reset_caches()


def test_discovery_naming_another_issuer_is_refused(sso, settings, rp):
    settings.OIDC_ISSUER = sso.issuer.replace("127.0.0.1", "localhost")
    reset_caches()
    response = rp.get("/oidc/login/")
    assert response.status_code == 403 and b"names another issuer" in response.content


def test_provider_down_gives_a_clear_page(sso, settings, rp):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    settings.OIDC_ISSUER = f"http://127.0.0.1:{port}"
    reset_caches()
    response = rp.get("/oidc/login/")
    assert response.status_code == 503
    assert b"did not answer" in response.content and b"break-glass" in response.content


# --- local sign-in, sessions, logout ---------------------------------------------------------------------------------


def test_local_login_can_be_switched_off_except_break_glass(sso, settings, rp):
    from tests.factories.accounts import PASSWORD, person

    person("auditor", username="demo-auditor")
    person("risk_officer", username="breakglass")
    page = rp.get("/admin/login/")
    assert b"Sign in with Test IdP" in page.content and b'name="password"' in page.content
    settings.LOCAL_LOGIN_USERS = ["breakglass"]
    assert not rp.login(username="demo-auditor", password=PASSWORD)
    assert rp.login(username="breakglass", password=PASSWORD)
    rp.logout()
    settings.LOCAL_LOGIN_ENABLED = False
    assert not rp.login(username="breakglass", password=PASSWORD)
    page = rp.get("/admin/login/")
    assert b'name="password"' not in page.content and b"Sign in with Test IdP" in page.content
    posted = rp.post("/admin/login/", {"username": "breakglass", "password": PASSWORD})
    assert posted.status_code == 200 and rp.get("/admin/").status_code == 302


def test_sso_users_never_sign_in_with_a_password(sso, rp):
    sso_sign_in(rp, OpAgent(), "rita")
    rita = User.objects.get(username="rita")
    rp.logout()
    from django.contrib.auth.hashers import make_password

    User.objects.filter(pk=rita.pk).update(password=make_password("guess"))  # bookkeeping column
    assert not rp.login(username="rita", password="guess")


def test_sessions_expire_when_idle_and_absolutely(sso, settings, rp):
    from governance.accounts import oidc_session

    sso_sign_in(rp, OpAgent(), "ada")
    assert rp.get("/admin/").status_code == 200
    session = rp.session
    session[oidc_session.LAST_SEEN] = time.time() - settings.SESSION_IDLE_TIMEOUT_SECONDS - 5
    session.save()
    assert rp.get("/admin/").status_code == 302
    assert b"idle time limit" in rp.get("/admin/login/").content
    sso_sign_in(rp, OpAgent(), "ada")
    session = rp.session
    session[oidc_session.STARTED] = time.time() - settings.SESSION_ABSOLUTE_TIMEOUT_SECONDS - 5
    session.save()
    assert rp.get("/admin/").status_code == 302


def test_logout_ends_the_provider_session(sso, rp):
    agent = OpAgent()
    sso_sign_in(rp, agent, "rita")
    out = rp.post("/admin/logout/")
    assert out.status_code == 302 and out["Location"].startswith(f"{sso.issuer}/session/end")
    assert query(out["Location"])["post_logout_redirect_uri"] == "http://127.0.0.1/oidc/logged-out/"
    assert rp.get("/admin/").status_code == 302
    # The provider asks to confirm, then sends the person back to mlgov's signed-out page.
    page = agent.http.get(out["Location"], timeout=10)
    form = re.search(r'action="([^"]+)"', page.text)
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    done = agent.http.post(
        requests.compat.urljoin(out["Location"], form.group(1)),
        data={**fields, "logout": "yes"},
        allow_redirects=False,
        timeout=10,
    )
    while done.is_redirect and done.headers["location"].startswith(sso.issuer):
        done = agent.http.get(done.headers["location"], allow_redirects=False, timeout=10)
    assert done.headers["location"].startswith("http://127.0.0.1/oidc/logged-out/")
    assert b"signed out" in rp.get("/oidc/logged-out/").content
    # The provider session is gone: a new sign-in asks for credentials again.
    start = rp.get("/oidc/login/")
    with pytest.raises(AssertionError, match="asks for credentials"):
        agent.authorize(start["Location"])


def test_system_check_names_bad_group_mappings(settings):
    from governance.accounts.oidc import sso_settings_check

    settings.OIDC_ENABLED, settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = True, "mlgov", "s"
    settings.OIDC_GROUP_ROLE_MAP = {"ops": "pipeline", "boss": ["risk_officer", "king"]}
    messages = [m.msg for m in sso_settings_check()]
    assert any("'ops' maps to 'pipeline'" in m for m in messages)
    assert any("unknown role 'king'" in m for m in messages)
    settings.OIDC_GROUP_ROLE_MAP = GROUP_ROLE_MAP
    assert sso_settings_check() == []

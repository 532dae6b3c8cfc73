"""A real OpenID provider (panva/oidc-provider on Node.js) for the single sign-on tests.

``oidc_provider`` (session): installs tools/oidc-provider with ``npm ci`` from its lock file when
needed, starts ``server.mjs`` on a free loopback port with a copy of its config.json, and stops it
(the whole process group) at the end. Without node/npm the SSO tests skip, and fail under CI=true.
``OpAgent`` drives the provider's sign-in pages over HTTP (``requests``), as a browser would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from tests.conftest import IN_CI

TOOL_DIR = Path(__file__).resolve().parents[2] / "tools" / "oidc-provider"
GROUP_ROLE_MAP = {
    "mlgov-risk-officers": "risk_officer",
    "mlgov-validators": "validator",
    "mlgov-auditors": "auditor",
    "mlgov-developers": "developer",
}
CLIENT_ID, CLIENT_SECRET = "mlgov", "mlgov-test-client-secret"
PASSWORDS = {"rita": "rita-test-password", "victor": "victor-test-password", "ada": "ada-test-password"}
PASSWORDS |= {"dev": "dev-test-password", "nobody": "nobody-test-password"}
SUBJECTS = {"rita": "00u-rita-0001", "victor": "00u-victor-0002", "ada": "00u-ada-0003", "dev": "00u-dev-0004"}


def _unavailable(message: str):
    if IN_CI:
        pytest.fail(f"{message}; CI needs it (the SSO tests drive a real OpenID provider)")
    pytest.skip(message)


def npm_install() -> None:
    """``npm ci`` from the lock file, once per lock-file change (a stamp in node_modules)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _unavailable("Node.js and npm are not installed (apt-get install nodejs npm)")
    lock = TOOL_DIR / "package-lock.json"
    stamp = TOOL_DIR / "node_modules" / ".mlgov-npm-ci"
    if stamp.exists() and stamp.read_text() == lock.read_text():
        return
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel", "error"],
        cwd=TOOL_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        _unavailable(f"npm ci in {TOOL_DIR} failed: {result.stderr[-2000:]}")
    stamp.write_text(lock.read_text())


@dataclass
class Provider:
    issuer: str
    config_path: Path
    process: subprocess.Popen

    def config(self) -> dict:
        return json.loads(self.config_path.read_text())

    def set_groups(self, username: str, groups: list[str]) -> None:
        config = self.config()
        for user in config["users"]:
            if user["username"] == username:
                user["groups"] = groups
        self.config_path.write_text(json.dumps(config, indent=1))


def start_provider(config_path: Path, port: int = 0, timeout: float = 60.0) -> Provider:
    process = subprocess.Popen(
        [shutil.which("node"), "server.mjs", "--port", str(port), "--config", str(config_path)],
        cwd=TOOL_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    ready: list[str] = []

    def read():
        for line in process.stdout:
            lines.append(line)
            if line.startswith("OIDC_PROVIDER_READY ") and not ready:
                ready.append(line.split()[1])

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not ready:
        stop_provider(process)
        _unavailable(f"the test OpenID provider did not start: {''.join(lines)[-2000:]}")
    return Provider(issuer=ready[0], config_path=config_path, process=process)


def stop_provider(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory):
    npm_install()
    config_path = tmp_path_factory.mktemp("oidc") / "config.json"
    shutil.copy(TOOL_DIR / "config.json", config_path)
    provider = start_provider(config_path)
    yield provider
    stop_provider(provider.process)


@pytest.fixture
def provider(oidc_provider):
    """The session's provider, with its users' groups restored after the test."""
    saved = oidc_provider.config_path.read_text()
    yield oidc_provider
    oidc_provider.config_path.write_text(saved)


def sso_settings_for(settings, issuer: str) -> None:
    from governance.accounts.oidc import reset_caches

    settings.OIDC_ENABLED = True
    settings.OIDC_ISSUER = issuer
    settings.OIDC_PROVIDER_NAME = "Test IdP"
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_GROUP_ROLE_MAP = dict(GROUP_ROLE_MAP)
    reset_caches()


@pytest.fixture
def sso(settings, provider):
    """Settings pointing mlgov at the test provider; yields the provider."""
    sso_settings_for(settings, provider.issuer)
    yield provider
    from governance.accounts.oidc import reset_caches

    reset_caches()


class OpAgent:
    """A person's browser at the provider: follows redirects and fills the sign-in form over HTTP."""

    def __init__(self):
        self.http = requests.Session()
        self.last_page = ""
        self.asked = 0  # how many times the provider asked for credentials

    def authorize(self, url: str, username: str | None = None, password: str | None = None) -> str:
        """Follow ``url`` (an authorization request) until the provider redirects back to mlgov.

        Signs in with ``username`` when the provider asks; returns mlgov's callback URL.
        """
        for _ in range(10):
            response = self.http.get(url, allow_redirects=False, timeout=10)
            if response.is_redirect:
                location = urljoin(url, response.headers["location"])
                if not location.startswith(self._op_root(url)):
                    return location
                url = location
                continue
            self.last_page = response.text
            auto = re.search(r'<form method="post" action="([^"]+)">', response.text)
            if "document.forms[0].submit()" in response.text and auto:
                # An auto-submitting form (e.g. the provider ending another account's session first).
                fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', response.text))
                posted = self.http.post(urljoin(url, auto.group(1)), data=fields, allow_redirects=False, timeout=10)
                assert posted.is_redirect, posted.text[:300]
                url = urljoin(url, posted.headers["location"])
                continue
            form = re.search(r'action="(/interaction/[^"]+/login)"', response.text)
            if response.status_code != 200 or not form:
                raise AssertionError(f"unexpected provider page {response.status_code}: {response.text[:500]}")
            if username is None:
                raise AssertionError("the provider asks for credentials")
            self.asked += 1
            posted = self.http.post(
                urljoin(url, form.group(1)),
                data={"username": username, "password": password or PASSWORDS[username]},
                allow_redirects=False,
                timeout=10,
            )
            if not posted.is_redirect:
                self.last_page = posted.text
                raise AssertionError(f"sign-in refused at the provider: {posted.text[:300]}")
            url = urljoin(url, posted.headers["location"])
            username = None  # asked once
        raise AssertionError("too many redirects at the provider")

    @staticmethod
    def _op_root(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}/"


def rp_path(url: str) -> str:
    """The path and query of an mlgov URL, for Django's test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def rp():
    """Django's test client on the host the provider redirects to (http://127.0.0.1)."""
    from django.test import Client

    return Client(HTTP_HOST="127.0.0.1")


def sso_sign_in(rp, agent: OpAgent, username: str, password: str | None = None):
    """Start at mlgov's SSO button, sign in at the provider, come back; returns mlgov's final response."""
    start = rp.get("/oidc/login/")
    assert start.status_code == 302, start.content[:500]
    callback = agent.authorize(start["Location"], username, password)
    return rp.get(rp_path(callback))

"""Browser tests: Debian's Chromium driven by Playwright for Python against a live server.

Shared by every helper's browser tests. A test module opts in with::

    pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

and uses the fixtures below:

- ``live_server`` (pytest-django): the app in a thread of the test process, on the test database.
- ``browser``: one headless Chromium for the session (``/usr/bin/chromium``, or ``CHROMIUM_PATH``).
  Missing: a skip on a developer machine, a failure under ``CI=true``. Never ``playwright install``.
- ``page``: a fresh browser context per test (own cookies), ``base_url`` = the live server, a
  1400 x 900 viewport. Every request to a host other than loopback is **blocked and counted**; the
  test fails at teardown if a page tried one, if a page raised a JavaScript error, broke the
  Content-Security-Policy, or if the server answered 5xx. ``page.goto("/admin/")`` works (relative to the live server).
- ``external_requests``: the list of blocked URLs (to assert on it inside a test).
- ``demo``: the ``make run`` demo data (people of every role, the German Credit model, its
  workflow walk and computed evaluations; no packs) and a ``demo.users`` dict role -> User.
- ``login(page, role_or_username, password=DEMO_PASSWORD)``: signs in through the admin form.
- ``screenshot(page, name)``: saves a PNG; into ``docs/img/`` when ``MLGOV_SCREENSHOTS=docs``
  (how the guides' images are refreshed), otherwise into the test's tmp folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from tests.conftest import IN_CI


@pytest.fixture(autouse=True, scope="module")
def _orm_beside_playwright():
    """Playwright's sync API runs an event loop in this thread; Django refuses ORM calls beside a
    running loop unless told the caller knows what it does (the ORM calls here are the test's own).
    Set for the browser modules only, and put back after them."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ALLOWED_CSP_BLOCK = "cdn.redoc.ly"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
VIEWPORT = {"width": 1400, "height": 900}
OVERFLOW_JS = (Path(__file__).parent / "overflow.js").read_text()
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
# role -> demo username (governance/common/management/commands/seed_demo.py)
DEMO_LOGINS = {
    "admin": "admin",
    "developer": "dana.developer",
    "validator": "victor.validator",
    "risk_officer": "rita.risk",
    "risk_officer_2": "rob.risk",
    "auditor": "alex.auditor",
    "pipeline": "credit-pipeline",
}


def chromium_path() -> str:
    """The Chromium binary, or skip (developer machine) / fail (CI) with what to do."""
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        message = f"Chromium not found at {path}: apt-get install chromium (or set CHROMIUM_PATH)"
        if IN_CI:
            pytest.fail(f"{message}; CI runs the browser tests")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module: Playwright's event loop must not outlive the browser modules
    (Django's ORM refuses to run beside it in the tests that follow)."""
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - a dev dependency
        if IN_CI:
            pytest.fail(f"playwright is not installed ({exc}): pip install -e '.[dev]'")
        pytest.skip(f"playwright is not installed ({exc})")
    manager = sync_playwright().start()
    instance = manager.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
    yield instance
    instance.close()
    manager.stop()


@pytest.fixture
def external_requests() -> list[str]:
    return []


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return (parts.hostname or "") in LOCAL_HOSTS


@pytest.fixture
def page(browser, live_server, external_requests):
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(15_000)

    def guard(route):
        if _is_local(route.request.url):
            route.continue_()
        else:
            external_requests.append(route.request.url)
            route.abort("blockedbyclient")

    context.route("**/*", guard)
    problems: list[str] = []
    tab = context.new_page()
    tab.on("pageerror", lambda exc: problems.append(f"JavaScript error on {tab.url}: {exc}"))

    def console(message):
        text = message.text
        # A page that breaks the Content-Security-Policy (inline script, inline handler, other host)
        # is a defect; ReDoc's CDN logo is stopped by its page's policy on purpose (docs.py).
        if message.type == "error" and "Content Security Policy" in text and ALLOWED_CSP_BLOCK not in text:
            problems.append(f"CSP violation on {tab.url}: {text[:300]}")

    tab.on("console", console)
    tab.on(
        "response",
        lambda response: problems.append(f"{response.status} from {response.url}") if response.status >= 500 else None,
    )
    yield tab
    context.close()
    assert not external_requests, f"pages tried to load from other hosts: {external_requests}"
    assert not problems, "; ".join(problems)


@pytest.fixture
def demo(transactional_db, settings, tmp_path):
    """The demo data of ``make run`` (without the documentation packs, which tests request)."""
    from django.core.management.base import BaseCommand

    from governance.accounts.models import User
    from governance.accounts.principal import Principal
    from governance.common.management.commands import seed_demo

    settings.VAR_DIR = tmp_path / "var"
    command = BaseCommand()
    command.stderr = open(os.devnull, "w")  # noqa: SIM115 - the seed's chatter
    principal = Principal.for_command("seed_demo")
    for step in seed_demo.DEMO_STEPS:
        if step.__name__ != "seed_packs":
            step(command, principal)
    command.stderr.close()
    users = {role: User.objects.get(username=name) for role, name in DEMO_LOGINS.items()}
    return SimpleNamespace(users=users, password=seed_demo.DEMO_PASSWORD, model_name=seed_demo.MODEL_NAME)


def login(page, who: str, password: str | None = None, *, expect_success: bool = True):
    """Sign in through the admin's login form as a demo role ("risk_officer") or a username."""
    from governance.common.management.commands.seed_demo import DEMO_PASSWORD

    username = DEMO_LOGINS.get(who, who)
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password or DEMO_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    if expect_success:
        assert "/admin/login/" not in page.url, f"login as {username} failed: {page.inner_text('#content')[:300]}"
    return page


@pytest.fixture(name="login")
def login_fixture():
    return login


def screenshot(page, name: str, tmp_path: Path | None = None, *, full_page: bool = True) -> Path:
    """A PNG of the page: docs/img/<name>.png with MLGOV_SCREENSHOTS=docs, else in tmp_path."""
    folder = DOCS_IMG if os.environ.get("MLGOV_SCREENSHOTS") == "docs" else (tmp_path or Path("/tmp"))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.png"
    page.screenshot(path=str(target), full_page=full_page)
    return target


def assert_no_horizontal_overflow(page, selector: str = "#content") -> None:
    """No element inside ``selector`` is wider than its box lets it be (nothing cut off or spilling)."""
    offenders = page.evaluate(OVERFLOW_JS, selector)
    assert not offenders, f"overflow at {page.viewport_size['width']} px: {offenders}"

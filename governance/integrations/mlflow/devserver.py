"""A real MLflow tracking server for tests and local trials (``make mlflow-server``).

The server is the full ``mlflow`` package from PyPI, installed on first use into its own virtual
environment (``.venv-mlflow/`` in the project folder, git-ignored), so its heavy dependencies never
enter the service's own environment; the service talks to it with the light client
(``mlflow-skinny``, the ``mlflow`` extra). It runs with a SQL backend (SQLite; registry webhooks
need it), a local artifact folder served through the server (``mlflow-artifacts:/``), on a
loopback port, and in its own process group: ``stop()`` ends every child (uvicorn, job runner).

    python -m governance.integrations.mlflow.devserver --port 5000 --data var/mlflow

Standard library only: it must run before MLflow is installed.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[3]
SERVER_REQUIREMENT = os.environ.get("MLFLOW_SERVER_REQUIREMENT", "mlflow==3.17.2")
SERVER_VENV = Path(os.environ.get("MLFLOW_SERVER_VENV", BASE_DIR / ".venv-mlflow"))
STAMP_NAME = ".installed"
START_TIMEOUT = float(os.environ.get("MLFLOW_SERVER_START_TIMEOUT", "300"))


class ServerUnavailable(RuntimeError):
    """MLflow could not be installed or started; the message says what to do."""


def _python() -> Path:
    return SERVER_VENV / "bin" / "python"


def ensure_server_venv(*, echo=print) -> Path:
    """Install ``SERVER_REQUIREMENT`` into ``SERVER_VENV`` unless it is there already; return its python."""
    stamp = SERVER_VENV / STAMP_NAME
    if stamp.exists() and stamp.read_text().strip() == SERVER_REQUIREMENT and _python().exists():
        return _python()
    echo(f"==> installing the MLflow server ({SERVER_REQUIREMENT}) into {SERVER_VENV} (first run: a few minutes)")
    base = os.environ.get("MLFLOW_SERVER_BASE_PYTHON") or _base_python()
    steps = [
        [base, "-m", "venv", str(SERVER_VENV)],
        [str(_python()), "-m", "pip", "install", "--quiet", "--progress-bar", "off", SERVER_REQUIREMENT],
    ]
    for command in steps:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise ServerUnavailable(
                f"installing the MLflow server failed ({' '.join(command)}): {result.stderr.strip()[-800:]}. "
                f"Check that PyPI is reachable, or point MLFLOW_SERVER_VENV at a venv with {SERVER_REQUIREMENT}."
            )
    stamp.write_text(SERVER_REQUIREMENT + "\n")
    return _python()


def _base_python() -> str:
    # The interpreter behind the current venv (a venv created from a venv's python works too).
    return getattr(sys, "_base_executable", None) or sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MlflowServer:
    """One running ``mlflow server``; ``url`` is its tracking URI."""

    data_dir: Path
    port: int
    webhook_env: bool = True
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    extra_env: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, python: Path) -> list[str]:
        return [
            str(python),
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.data_dir / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.data_dir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]

    def start(self, *, timeout: float = START_TIMEOUT, echo=print) -> MlflowServer:
        python = ensure_server_venv(echo=echo)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "artifacts").mkdir(exist_ok=True)
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **self.extra_env}
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
            env.pop(name, None)
        if self.webhook_env:
            # Loopback receivers over http are for tests and local trials only; production uses https.
            env.update(
                MLFLOW_WEBHOOK_ALLOWED_SCHEMES="http,https",
                MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS="true",
                MLFLOW_WEBHOOK_CACHE_TTL="1",
                MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES="1",
            )
        self.log_path = self.data_dir / "server.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        self.process = subprocess.Popen(
            self.command(python), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerUnavailable(f"mlflow server exited with {self.process.returncode}; see {self.log_path}")
            if self.healthy():
                return self
            time.sleep(0.5)
        self.stop()
        raise ServerUnavailable(f"mlflow server did not answer /health within {timeout:.0f} s; see {self.log_path}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        """End the server's whole process group (uvicorn workers and helpers included)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        # Children that outlived the leader are still in the group.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start a local MLflow tracking server (SQLite backend).")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MLFLOW_PORT", "5000")))
    parser.add_argument("--data", default=os.environ.get("MLFLOW_DATA_DIR", str(BASE_DIR / "var" / "mlflow")))
    parser.add_argument("--install-only", action="store_true", help="install the server venv and exit")
    args = parser.parse_args(argv)
    try:
        if args.install_only:
            print(ensure_server_venv())
            return 0
        server = MlflowServer(data_dir=Path(args.data).resolve(), port=args.port)
        print(f"==> starting MLflow on {server.url} (data in {server.data_dir}); Ctrl-C stops it")
        server.start()
    except ServerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"==> MLflow is up: export MLFLOW_TRACKING_URI={server.url}")
    try:
        while server.process and server.process.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

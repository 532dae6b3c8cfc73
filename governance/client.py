"""A small client for ML pipelines: standard library + ``requests``, no Django.

    from governance.client import Client, ApiError

    client = Client("https://mlgov.example.com", token)
    version = client.register_version("german-credit-scoring", "1.2.0", artifact_uri=..., artifact_sha256=...)
    ev = client.post_evaluation(version["id"], "fairness", "holdout-2026-10",
                                data={"y_true": [...], "y_pred": [...], "sensitive_features": {"sex": [...]}},
                                thresholds=[{"metric": "disparate_impact_ratio", "comparator": ">=", "threshold": 0.8}])
    ev = client.wait_for_evaluation(ev["id"], timeout=600)   # for queued (202) evaluations

Every POST carries an ``Idempotency-Key`` (a fresh uuid4 unless given), so a retried request is
answered with the first response instead of being recorded twice. Errors raise :class:`ApiError`
with the HTTP status and the API's ``code``, ``message`` and ``fields``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import requests

__all__ = ["ApiError", "Client"]

FINISHED = ("done", "failed")


class ApiError(Exception):
    """An error answer of the API: ``{"error": {"code", "message", "fields"}}``."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})


class Client:
    def __init__(self, base_url: str, token: str, *, timeout: float = 60.0, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.update({"Authorization": f"Token {token}", "Accept": "application/json"})

    def close(self) -> None:
        """Close the HTTP session (its kept-alive connections)."""
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        if not path.startswith("/api/"):
            path = "/api/v1/" + path.lstrip("/")
        return self.base_url + path

    def _answer(self, response: requests.Response) -> Any:
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        if response.status_code >= 400:
            err = (body or {}).get("error") if isinstance(body, dict) else None
            if isinstance(err, dict):
                raise ApiError(
                    response.status_code, err.get("code", "error"), err.get("message", ""), err.get("fields")
                )
            raise ApiError(response.status_code, "http_error", response.text[:500] or response.reason or "")
        return body

    def get(self, path: str, params: Mapping | None = None) -> Any:
        return self._answer(self.session.get(self._url(path), params=params, timeout=self.timeout))

    def post(
        self,
        path: str,
        json_body: Any = None,
        *,
        data: Mapping | None = None,
        files: Mapping | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        response = self.session.post(
            self._url(path),
            json=json_body if files is None else None,
            data=data,
            files=files,
            headers=headers,
            timeout=self.timeout,
        )
        return self._answer(response)

    # -- registry -------------------------------------------------------------------------------
    def register_model(
        self,
        name: str,
        *,
        purpose: str,
        business_unit: str,
        eu_ai_act_category: str,
        risk_tier: str,
        idempotency_key: str | None = None,
        **fields,
    ) -> dict:
        body = {
            "name": name,
            "purpose": purpose,
            "business_unit": business_unit,
            "eu_ai_act_category": eu_ai_act_category,
            "risk_tier": risk_tier,
            **fields,
        }
        return self.post("models/", body, idempotency_key=idempotency_key)

    def register_version(
        self,
        model: str,
        version: str,
        *,
        artifact_uri: str,
        artifact_sha256: str,
        idempotency_key: str | None = None,
        **fields,
    ) -> dict:
        body = {
            "model": model,
            "version": version,
            "artifact_uri": artifact_uri,
            "artifact_sha256": artifact_sha256,
            **fields,
        }
        return self.post("versions/", body, idempotency_key=idempotency_key)

    # -- evaluations ----------------------------------------------------------------------------
    def post_evaluation(
        self,
        model_version: int,
        kind: str,
        dataset: str,
        *,
        data: Mapping | None = None,
        file: str | os.PathLike | None = None,
        columns: Mapping | None = None,
        file_format: str | None = None,
        thresholds: Sequence[Mapping] | None = None,
        params: Mapping | None = None,
        idempotency_key: str | None = None,
    ) -> dict:
        """Post an evaluation with inline ``data`` (a dict) or a CSV/Parquet ``file`` path with its
        ``columns`` mapping. Returns the evaluation (``status`` done, or queued for large inputs)."""
        if (data is None) == (file is None):
            raise ValueError("give either data (inline) or file (a CSV or Parquet path)")
        if file is None:  # then data is given (checked above)
            body = {"model_version": model_version, "kind": kind, "dataset": dataset, "data": data}
            if thresholds is not None:
                body["thresholds"] = list(thresholds)
            if params is not None:
                body["params"] = dict(params)
            return self.post("evaluations/", body, idempotency_key=idempotency_key)
        form = {
            "model_version": str(model_version),
            "kind": kind,
            "dataset": dataset,
            "columns": json.dumps(dict(columns or {})),
        }
        if file_format:
            form["file_format"] = file_format
        if thresholds is not None:
            form["thresholds"] = json.dumps(list(thresholds))
        if params is not None:
            form["params"] = json.dumps(dict(params))
        with open(file, "rb") as handle:
            return self.post(
                "evaluations/",
                data=form,
                files={"file": (os.path.basename(file), handle)},
                idempotency_key=idempotency_key,
            )

    def register_reference_sample(
        self,
        model_version: int,
        file: str | os.PathLike,
        columns: Mapping,
        *,
        file_format: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict:
        form = {"columns": json.dumps(dict(columns))}
        if file_format:
            form["file_format"] = file_format
        with open(file, "rb") as handle:
            return self.post(
                f"versions/{model_version}/reference/",
                data=form,
                files={"file": (os.path.basename(file), handle)},
                idempotency_key=idempotency_key,
            )

    def get_evaluation(self, evaluation_id: int) -> dict:
        return self.get(f"evaluations/{evaluation_id}/")

    def wait_for_evaluation(self, evaluation_id: int, timeout: float = 600.0, *, interval: float = 0.5) -> dict:
        """Poll until the evaluation is done or failed; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            evaluation = self.get_evaluation(evaluation_id)
            if evaluation["status"] in FINISHED:
                return evaluation
            if time.monotonic() >= deadline:
                raise TimeoutError(f"evaluation {evaluation_id} is still {evaluation['status']} after {timeout} s")
            time.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))
            interval = min(interval * 1.5, 5.0)

    # -- workflow and audit ---------------------------------------------------------------------
    def request_promotion(
        self, model_version: int, target_stage: str, reason: str, *, idempotency_key: str | None = None, **fields
    ) -> dict:
        body = {"model_version": model_version, "target_stage": target_stage, "reason": reason, **fields}
        return self.post("promotions/", body, idempotency_key=idempotency_key)

    def append_events(self, events: Sequence[Mapping], *, idempotency_key: str | None = None) -> Any:
        """Append pipeline events to the audit log (``POST /api/v1/audit/events``)."""
        return self.post("audit/events", {"events": list(events)}, idempotency_key=idempotency_key)

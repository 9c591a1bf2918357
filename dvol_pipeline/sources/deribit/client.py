"""A small client for Deribit's public JSON-RPC-over-HTTP API (no key needed).

Why its own client: the pipeline needs exactly three behaviours a generic HTTP call lacks,
and each must be testable without the network: (1) spacing requests below Deribit's
credit-based public limit, (2) backing off and retrying when Deribit says "too many
requests" (error 10028), throttles (HTTP 429), fails (5xx) or the connection drops, and
(3) errors that say which method and parameters were asked and what came back. The
transport, clock and sleep are injected so tests replay recorded responses instantly.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

BASE_URL = "https://www.deribit.com/api/v2"
TOO_MANY_REQUESTS = 10028
"""Deribit's JSON-RPC code for an exhausted credit balance: back off and try again."""
BODY_PREVIEW = 200


class DeribitError(RuntimeError):
    """Deribit answered with an error or with something that is not a valid reply."""


class DeribitRetryableError(DeribitError):
    """A failure that waiting can cure: throttling, a server fault, a dropped connection."""


def query_string(params: Mapping[str, Any]) -> str:
    """Params as Deribit reads them (booleans lower-case), sorted so lineage keys are stable."""
    def text(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    return urlencode(sorted((k, text(v)) for k, v in params.items() if v is not None))


def describe(method: str, params: Mapping[str, Any]) -> str:
    return f"Deribit public/{method}?{query_string(params)}"


def malformed(method: str, params: Mapping[str, Any], why: str, body: str | bytes) -> DeribitError:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return DeribitError(
        f"{describe(method, params)}: malformed response ({why}); "
        f"body starts {text[:BODY_PREVIEW]!r}"
    )


@dataclass
class RateLimiter:
    """Keeps at least 1/rate seconds between request starts (a rate of None turns it off).

    Deribit's public (non-matching-engine) limit is a credit pool refilled at roughly 20
    requests per second; a steady spacing under that never drains it during a backfill.
    """

    rate: float | None = 10.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next: float | None = field(default=None, repr=False)

    def acquire(self) -> float:
        """Wait until a request may start; returns the seconds waited."""
        if not self.rate:
            return 0.0
        now = self.clock()
        wait = 0.0 if self._next is None else max(0.0, self._next - now)
        if wait > 0:
            self.sleep(wait)
        self._next = max(now, self._next or now) + 1.0 / self.rate
        return wait


@dataclass(frozen=True)
class CallRecord:
    """One answered call, for lineage: what was asked, a hash of the body, how many tries."""

    method: str
    params: dict[str, Any]
    sha256: str
    attempts: int

    @property
    def key(self) -> str:
        return f"deribit:public/{self.method}?{query_string(self.params)}"


class DeribitClient:
    """`call(method, **params)` returns the JSON-RPC `result` or raises `DeribitError`."""

    def __init__(
        self,
        transport: httpx.BaseTransport | None = None,
        *,
        base_url: str = BASE_URL,
        timeout: float = 30.0,
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        requests_per_second: float | None = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = httpx.Client(base_url=base_url, transport=transport, timeout=timeout)
        self.limiter = RateLimiter(requests_per_second, clock, sleep)
        self.max_attempts = max_attempts
        self._wait = wait_exponential(multiplier=backoff_base, max=backoff_max)
        self._sleep = sleep
        self.log: list[CallRecord] = []
        self.retries = 0

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, **params: Any) -> Any:
        params = {k: v for k, v in params.items() if v is not None}
        retrying = Retrying(
            sleep=self._sleep,
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(DeribitRetryableError),
            reraise=True,
        )
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    if attempts > 1:
                        self.retries += 1
                    result, body = self._once(method, params)
        except DeribitRetryableError as exc:
            raise DeribitError(f"{exc} (gave up after {attempts} attempts)") from exc
        self.log.append(CallRecord(method, params, hashlib.sha256(body).hexdigest(), attempts))
        return result

    def _once(self, method: str, params: dict[str, Any]) -> tuple[Any, bytes]:
        self.limiter.acquire()
        try:
            resp = self._http.get(f"/public/{method}", params=query_string(params))
        except httpx.TransportError as exc:
            raise DeribitRetryableError(
                f"{describe(method, params)}: {type(exc).__name__}: {exc}"
            ) from exc
        body = resp.content
        if resp.status_code == 429 or resp.status_code >= 500:
            raise DeribitRetryableError(
                f"{describe(method, params)}: HTTP {resp.status_code}; "
                f"body starts {body[:BODY_PREVIEW].decode('utf-8', 'replace')!r}"
            )
        try:
            reply = json.loads(body)
        except ValueError:
            raise malformed(method, params, f"HTTP {resp.status_code}, not JSON", body) from None
        if not isinstance(reply, dict):
            raise malformed(method, params, "not a JSON-RPC object", body)
        if "error" in reply:
            raise self._rpc_error(method, params, reply["error"], body)
        if "result" not in reply:
            raise malformed(method, params, f"HTTP {resp.status_code}, no 'result' or 'error'", body)
        return reply["result"], body

    @staticmethod
    def _rpc_error(method: str, params: dict[str, Any], error: Any, body: bytes) -> DeribitError:
        if not isinstance(error, dict):
            return malformed(method, params, "'error' is not an object", body)
        code, message, data = error.get("code"), error.get("message"), error.get("data")
        text = f"{describe(method, params)} returned error {code} {message!r}"
        text += f" (data: {json.dumps(data)})" if data is not None else ""
        if code == TOO_MANY_REQUESTS:
            return DeribitRetryableError(text + "; backing off")
        return DeribitError(text)

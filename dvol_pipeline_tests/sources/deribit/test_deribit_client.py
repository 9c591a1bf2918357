"""The Deribit HTTP client against recorded replies: retries, back-off, rate limit, errors.

Every test injects an httpx.MockTransport and a fake clock/sleep, so nothing waits and
nothing reaches the network (the autouse guard below fails any real HTTP attempt).
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import httpx
import pytest

from dvol_pipeline.sources.deribit.client import DeribitClient, DeribitError, RateLimiter

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "deribit"


def body(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


class FakeTime:
    """A clock that only moves when something sleeps (or a test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.requests_at: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Reply = httpx.Response | Exception


def scripted(replies: list[Reply], seen: list[httpx.Request], fake: FakeTime) -> httpx.MockTransport:
    """Answer the n-th request with the n-th reply (an exception is raised instead)."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        fake.requests_at.append(fake.now)
        reply = replies[len(seen) - 1]
        if isinstance(reply, Exception):
            raise reply
        return reply

    return httpx.MockTransport(handle)


def client_for(replies: list[Reply], fake: FakeTime, seen: list[httpx.Request], **kw) -> DeribitClient:
    kw.setdefault("requests_per_second", None)
    return DeribitClient(scripted(replies, seen, fake), sleep=fake.sleep, clock=fake.clock, **kw)


OK = httpx.Response(200, content=body("instruments_btc_option"))
PARAMS = dict(currency="BTC", kind="option", expired=False)


def test_a_call_is_a_keyless_get_on_public_method_and_returns_result():
    fake, seen = FakeTime(), []
    client = client_for([OK], fake, seen)
    result = client.call("get_instruments", **PARAMS)
    assert result == json.loads(body("instruments_btc_option"))["result"]
    (req,) = seen
    assert req.method == "GET"
    assert req.url.path == "/api/v2/public/get_instruments"
    assert req.url.host == "www.deribit.com"
    assert dict(req.url.params) == {"currency": "BTC", "kind": "option", "expired": "false"}
    assert "authorization" not in req.headers
    (rec,) = client.log
    assert rec.key == "deribit:public/get_instruments?currency=BTC&expired=false&kind=option"
    assert rec.sha256 == hashlib.sha256(body("instruments_btc_option")).hexdigest()
    assert rec.attempts == 1 and fake.sleeps == []


def test_too_many_requests_backs_off_exponentially_then_succeeds():
    fake, seen = FakeTime(), []
    throttled = httpx.Response(400, content=body("error_too_many_requests"))  # Deribit: JSON-RPC error
    client = client_for([throttled, throttled, OK], fake, seen, backoff_base=0.5)
    assert client.call("get_instruments", **PARAMS)[0]["instrument_name"].startswith("BTC-")
    assert len(seen) == 3
    assert fake.sleeps == [0.5, 1.0]  # the back-off was asked of the injected sleep
    assert client.retries == 2 and client.log[0].attempts == 3


@pytest.mark.parametrize("status", [502, 503, 429])
def test_server_error_or_throttle_status_then_success(status):
    fake, seen = FakeTime(), []
    bad = httpx.Response(status, content=b"<html><body><h1>502 Bad Gateway</h1></body></html>")
    client = client_for([bad, OK], fake, seen, backoff_base=0.25)
    client.call("get_instruments", **PARAMS)
    assert len(seen) == 2 and fake.sleeps == [0.25]


def test_retry_and_rate_limit_share_one_clock_without_double_waiting():
    fake, seen = FakeTime(), []
    throttled = httpx.Response(429, content=body("error_too_many_requests"))
    client = client_for([throttled, OK], fake, seen, requests_per_second=10.0, backoff_base=0.5)
    client.call("get_instruments", **PARAMS)
    assert fake.sleeps == [0.5]  # the back-off already spaced the retry beyond 1/10 s
    assert fake.requests_at == [1000.0, 1000.5]


def test_dropped_connection_and_timeout_are_retried():
    fake, seen = FakeTime(), []
    client = client_for([httpx.ConnectError("reset"), httpx.ReadTimeout("slow"), OK], fake, seen)
    client.call("get_instruments", **PARAMS)
    assert len(seen) == 3 and fake.sleeps == [0.5, 1.0]


def test_gives_up_after_max_attempts_with_capped_delays_and_says_so():
    fake, seen = FakeTime(), []
    down = httpx.Response(503, content=b"Service Unavailable")
    client = client_for([down] * 5, fake, seen, max_attempts=5, backoff_base=1.0, backoff_max=3.0)
    with pytest.raises(DeribitError) as err:
        client.call("get_instruments", **PARAMS)
    assert len(seen) == 5
    assert fake.sleeps == [1.0, 2.0, 3.0, 3.0]
    text = str(err.value)
    assert "gave up after 5 attempts" in text and "HTTP 503" in text
    assert "public/get_instruments?currency=BTC&expired=false&kind=option" in text
    assert client.log == []


def test_other_json_rpc_error_is_not_retried_and_says_what_was_asked_and_answered():
    fake, seen = FakeTime(), []
    client = client_for([httpx.Response(400, content=body("error_invalid_params"))], fake, seen)
    with pytest.raises(DeribitError) as err:
        client.call("get_volatility_index_data", currency="BTC", start_timestamp=1, end_timestamp=2, resolution="7")
    text = str(err.value)
    assert "public/get_volatility_index_data?currency=BTC&end_timestamp=2&resolution=7&start_timestamp=1" in text
    assert "-32602" in text and "'Invalid params'" in text
    assert '"param": "resolution"' in text
    assert len(seen) == 1 and fake.sleeps == []


@pytest.mark.parametrize(
    "content,why",
    [
        (b"<html><head><title>Just a moment...</title></head>" + b"x" * 500, "not JSON"),
        (b'{"jsonrpc": "2.0", "id": 3, "usIn": 1, "usOut": 2, "usDiff": 1, "testnet": false}', "no 'result'"),
        (b'[1, 2, 3]', "not a JSON-RPC object"),
        (b'{"jsonrpc": "2.0", "error": "too many", "testnet": false}', "'error' is not an object"),
    ],
)
def test_malformed_body_raises_with_the_body_start_and_is_not_retried(content, why):
    fake, seen = FakeTime(), []
    client = client_for([httpx.Response(200, content=content)], fake, seen)
    with pytest.raises(DeribitError, match="malformed response") as err:
        client.call("get_instruments", **PARAMS)
    text = str(err.value)
    assert why in text
    assert ast.literal_eval(text.split("body starts ", 1)[1]) == content[:200].decode()
    assert len(seen) == 1 and fake.sleeps == []


def test_rate_limiter_spaces_requests_on_the_injected_clock():
    fake, seen = FakeTime(), []
    client = client_for([OK] * 5, fake, seen, requests_per_second=4.0)
    for _ in range(5):
        client.call("get_instruments", **PARAMS)
    assert fake.requests_at == [1000.0, 1000.25, 1000.5, 1000.75, 1001.0]
    assert fake.sleeps == [0.25] * 4


def test_rate_limiter_does_not_wait_when_requests_are_already_spaced():
    fake = FakeTime()
    limiter = RateLimiter(rate=20.0, clock=fake.clock, sleep=fake.sleep)
    waits = []
    for _ in range(3):
        waits.append(limiter.acquire())
        fake.now += 0.2  # slower than 20/s
    assert waits == [0.0, 0.0, 0.0] and fake.sleeps == []
    assert RateLimiter(rate=None, clock=fake.clock, sleep=fake.sleep).acquire() == 0.0


def test_the_network_guard_refuses_a_client_without_a_mock_transport():
    client = DeribitClient(requests_per_second=None, sleep=lambda s: None)
    with pytest.raises(AssertionError, match="tried to reach the network"):
        client.call("get_instruments", **PARAMS)

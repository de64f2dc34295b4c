"""The Brevo client against recorded answers (respx): pacing from Brevo's headers, what is retried, what is not.

Each answer is one Brevo would give (shapes from connectors/brevo.md); no sandbox runs here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest
import respx

from leadscore.connectors.brevo.client import BrevoApiError, BrevoClient
from leadscore.connectors.brevo.mapping import Limits
from leadscore.errors import AuthError, RetryableError
from tests.connectors.test_http import Clock

BASE = "https://api.brevo.example/v3"
LIMITS = Limits(max_attempts=3, max_wait_seconds=5, max_retry_seconds=30)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(sleeps: Sleeps) -> Iterator[BrevoClient]:
    made = BrevoClient("brevo-main", BASE, "xkeysib-test", LIMITS, sleep=sleeps)
    yield made
    made.close()


@respx.mock
def test_a_call_sends_the_key_and_counts_itself(client: BrevoClient) -> None:
    route = respx.get(f"{BASE}/contacts").mock(return_value=httpx.Response(200, json={"contacts": [], "count": 0}))
    response = client.call("GET", "/contacts", "GET /contacts", params={"limit": 1})
    assert response.json() == {"contacts": [], "count": 0}
    assert route.calls.last.request.headers["api-key"] == "xkeysib-test"
    assert client.usage.calls == {"GET /contacts": 1}


@respx.mock
def test_a_429_waits_for_the_reset_header_then_succeeds(client: BrevoClient, sleeps: Sleeps) -> None:
    """Brevo's 429 carries no Retry-After; x-sib-ratelimit-reset says how many seconds the window has left."""
    respx.get(f"{BASE}/contacts").mock(
        side_effect=[
            httpx.Response(
                429,
                headers={"x-sib-ratelimit-remaining": "0", "x-sib-ratelimit-reset": "3"},
                json={"code": "too_many_requests", "message": "rate limited"},
            ),
            httpx.Response(200, json={"contacts": []}),
        ]
    )
    assert client.call("GET", "/contacts", "GET /contacts").status_code == 200
    assert client.usage.rate_limited == 1
    assert client.usage.retries == 1
    assert sum(sleeps) >= 3, f"waited {sleeps}"


@respx.mock
def test_a_5xx_is_retried_and_a_lasting_one_fails_with_its_status(client: BrevoClient) -> None:
    respx.get(f"{BASE}/contacts").mock(return_value=httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(RetryableError, match="GET /contacts: 502") as raised:
        client.call("GET", "/contacts", "GET /contacts")
    assert raised.value.status == 502
    assert client.usage.calls["GET /contacts"] == LIMITS.max_attempts


@respx.mock
def test_a_dropped_connection_is_retried(client: BrevoClient) -> None:
    respx.get(f"{BASE}/contacts").mock(
        side_effect=[httpx.ConnectError("connection reset"), httpx.Response(200, json={"contacts": []})]
    )
    assert client.call("GET", "/contacts", "GET /contacts").status_code == 200
    assert client.usage.retries == 1


@respx.mock
def test_a_refused_key_fails_at_once_and_says_what_to_do(client: BrevoClient) -> None:
    respx.get(f"{BASE}/contacts").mock(
        return_value=httpx.Response(401, json={"code": "unauthorized", "message": "Key not found"})
    )
    with pytest.raises(AuthError, match=r"refused the API key for source 'brevo-main'.*create a v3 API key"):
        client.call("GET", "/contacts", "GET /contacts")
    assert client.usage.calls["GET /contacts"] == 1, "a refused key is not retried"


@respx.mock
def test_a_4xx_the_caller_did_not_expect_names_brevos_code_and_message(client: BrevoClient) -> None:
    respx.post(f"{BASE}/contacts/batch").mock(
        return_value=httpx.Response(400, json={"code": "invalid_parameter", "message": "attributes must be an object"})
    )
    response = client.call("POST", "/contacts/batch", "POST /contacts/batch", body={"contacts": []})
    with pytest.raises(BrevoApiError, match="400 invalid_parameter: attributes must be an object") as raised:
        client.raise_for(response, "POST /contacts/batch")
    assert raised.value.code == "invalid_parameter"


@respx.mock
def test_no_calls_left_in_a_window_holds_that_group_until_its_reset(client: BrevoClient, sleeps: Sleeps) -> None:
    """A 200 saying 0 remaining: the next call of that group waits out the reset; other groups do not."""
    respx.get(f"{BASE}/contacts").mock(
        return_value=httpx.Response(
            200, headers={"x-sib-ratelimit-remaining": "0", "x-sib-ratelimit-reset": "2"}, json={"contacts": []}
        )
    )
    respx.get(f"{BASE}/emailCampaigns").mock(return_value=httpx.Response(200, json={"campaigns": []}))
    client.call("GET", "/contacts", "GET /contacts")
    assert not client.has_room("contacts")
    client.call("GET", "/emailCampaigns", "GET /emailCampaigns")
    assert sleeps == [], "another group is not held"
    client.call("GET", "/contacts", "GET /contacts")
    assert len(sleeps) == 1
    assert sleeps[0] > 1.5


@respx.mock
def test_an_export_file_is_fetched_without_the_key_and_retried_on_5xx(client: BrevoClient) -> None:
    route = respx.get("https://files.brevo.example/export.csv").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, text="EMAIL\na@x.example\n")]
    )
    with client.download("https://files.brevo.example/export.csv") as export:
        assert export.read() == "EMAIL\na@x.example\n"
    assert "api-key" not in route.calls.last.request.headers
    assert route.call_count == 2


def _paced_client(clock: Clock) -> BrevoClient:
    made = BrevoClient("brevo-main", BASE, "xkeysib-test", LIMITS, sleep=clock.sleep)
    made.budget.clock = clock
    return made


def _second_of_answers(clock: Clock, latency: float, unseen: int = 0) -> Iterator[httpx.Response]:
    """Brevo's answers over a per-second window of ten: ``unseen`` calls of another integration counted first,
    and each answer taking ``latency``; the reset is whole seconds rounded up, as the sandbox gives it."""
    for used in itertools.count(unseen + 1):
        clock.now += latency
        remaining = max(0, 10 - used)
        yield httpx.Response(
            200,
            headers={
                "x-sib-ratelimit-limit": "10",
                "x-sib-ratelimit-remaining": str(remaining),
                "x-sib-ratelimit-reset": "1",
            },
            json={"contacts": []},
        )


@respx.mock
def test_the_last_call_of_its_own_second_holds_the_group_only_as_long_as_its_own_window() -> None:
    """A reset in whole seconds, rounded up, says 1 s after the tenth call of a second. Holding that whole second
    after every tenth call, when this client sent all ten, cost a first read of 100,000 contacts 17 s where 102
    calls at 10 a second take 11."""
    clock = Clock()
    client = _paced_client(clock)
    respx.get(f"{BASE}/contacts").mock(side_effect=_second_of_answers(clock, latency=0.05))
    first_answer = clock.now + 0.05
    for _ in range(10):
        client.call("GET", "/contacts", "GET /contacts")
    tenth_answer = clock.now
    assert clock.slept == []
    client.call("GET", "/contacts", "GET /contacts")
    [waited] = clock.slept
    own_window = client.budget.windows["contacts_second"].seconds
    assert waited == pytest.approx(first_answer + own_window - tenth_answer, abs=1e-6), (
        "the eleventh call goes when the first of the ten leaves this client's window, not a whole second later"
    )
    client.close()


@respx.mock
def test_a_second_another_integration_spent_is_waited_out_whole() -> None:
    """The platform counted calls this client did not send: their moments are unknown, so the next call waits a
    whole window from the answer that said none are left."""
    clock = Clock()
    client = _paced_client(clock)
    respx.get(f"{BASE}/contacts").mock(side_effect=_second_of_answers(clock, latency=0.05, unseen=9))
    client.call("GET", "/contacts", "GET /contacts")
    said_none_left = clock.now
    client.call("GET", "/contacts", "GET /contacts")
    assert sum(clock.slept) >= 1.0
    assert clock.now - 0.05 >= said_none_left + 1.0
    client.close()

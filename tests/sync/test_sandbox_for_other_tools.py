"""The sandboxes serve what other tools ask for, not only leadscore (a revops team tests Singer taps, Airbyte
sources and scripts against them): the calls tap-hubspot, airbyte-source-hubspot, tap-salesforce and
airbyte-source-salesforce make first, each answered as the platform answers it. Where the vendor publishes a spec,
the exchange is validated against it too (tests/spec_check.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce.api import Salesforce

from leadscore.connectors.salesforce.client import LoopbackAdapter
from leadscore_sandbox.brevo import BrevoSandbox
from leadscore_sandbox.hubspot import HubSpotSandbox
from leadscore_sandbox.hubspot_seed import seed_hubspot
from leadscore_sandbox.salesforce import SalesforceSandbox
from leadscore_sandbox.salesforce_seed import seed_salesforce
from tests.conftest import ROOT
from tests.spec_check import SpecValidator, validator_for

HUBSPOT_HEADERS = {"Authorization": "Bearer sandbox-token", "Content-Type": "application/json"}


def call(url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or HUBSPOT_HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"null")


@pytest.fixture
def hubspot() -> Iterator[tuple[HubSpotSandbox, SpecValidator | None]]:
    sandbox = HubSpotSandbox().start()
    seed_hubspot(sandbox, 40, seed=3)
    validator = validator_for("hubspot")
    if validator is not None:
        validator.answers_only = True
        validator.attach(sandbox)
    yield sandbox, validator
    sandbox.stop()
    if validator is not None:
        assert not validator.unexplained, validator.report()


def test_hubspot_custom_object_schemas_and_v2_properties_answer_for_taps(
    hubspot: tuple[HubSpotSandbox, SpecValidator | None],
) -> None:
    sandbox, _ = hubspot
    assert call(sandbox.url + "/crm/v3/schemas") == (200, {"results": []})
    status, properties = call(sandbox.url + "/properties/v2/contacts/properties")
    assert status == 200
    assert isinstance(properties, list)
    email = next(p for p in properties if p["name"] == "email")
    assert {"label", "groupName", "type", "fieldType", "options", "readOnlyValue"} <= set(email)
    assert {p["name"] for p in properties} == set(sandbox.property_defs)


@pytest.mark.parametrize("spelling", ["contacts", "contact", "0-1"])
def test_hubspot_answers_every_spelling_of_the_contact_object(
    hubspot: tuple[HubSpotSandbox, SpecValidator | None], spelling: str
) -> None:
    sandbox, _ = hubspot
    status, page = call(f"{sandbox.url}/crm/v3/objects/{spelling}?limit=10&properties=email")
    assert status == 200
    assert len(page["results"]) == 10
    status, found = call(f"{sandbox.url}/crm/v3/objects/{spelling}/search", "POST", {"limit": 5})
    assert (status, found["total"]) == (200, 40)
    status, read = call(
        f"{sandbox.url}/crm/v3/objects/{spelling}/batch/read",
        "POST",
        {"inputs": [{"id": page["results"][0]["id"]}], "properties": ["email"]},
    )
    assert status == 200
    assert read["results"][0]["id"] == page["results"][0]["id"]
    assert sandbox.log.count("POST /crm/v3/objects/contacts/search") == 1, "logged under one name"


def test_hubspot_search_takes_filters_at_the_top_level_as_older_clients_send_them(
    hubspot: tuple[HubSpotSandbox, SpecValidator | None],
) -> None:
    sandbox, _ = hubspot
    target = sandbox.live_contacts()[7]
    only = [{"propertyName": "email", "operator": "EQ", "value": target.properties["email"]}]
    top_level = call(sandbox.url + "/crm/v3/objects/contacts/search", "POST", {"filters": only})
    grouped = call(sandbox.url + "/crm/v3/objects/contacts/search", "POST", {"filterGroups": [{"filters": only}]})
    assert top_level[0] == grouped[0] == 200
    assert [r["id"] for r in top_level[1]["results"]] == [r["id"] for r in grouped[1]["results"]] == [str(target.id)]


def test_hubspot_v4_associations_batch_read_pairs_contacts_and_their_companies(
    hubspot: tuple[HubSpotSandbox, SpecValidator | None],
) -> None:
    sandbox, _ = hubspot
    contact_id = sandbox.live_contacts()[0].id
    company = sandbox.add_company({"name": "Firm", "domain": "firm.example"})
    sandbox.associate(contact_id, company)
    loner = sandbox.live_contacts()[1].id
    inputs = {"inputs": [{"id": str(contact_id)}, {"id": str(loner)}]}
    status, answer = call(sandbox.url + "/crm/v4/associations/contact/company/batch/read", "POST", inputs)
    assert status == 207, "a contact without a company is listed as an error, the rest answered"
    assert answer["results"] == [
        {
            "from": {"id": str(contact_id)},
            "to": [
                {
                    "toObjectId": str(company),
                    "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"}],
                }
            ],
        }
    ]
    assert answer["errors"][0]["context"]["ids"] == [str(loner)]
    back = call(sandbox.url + "/crm/v4/associations/0-2/0-1/batch/read", "POST", {"inputs": [{"id": str(company)}]})
    assert back[0] == 200
    assert back[1]["results"][0]["to"][0]["toObjectId"] == str(contact_id)
    assert back[1]["results"][0]["to"][0]["associationTypes"][0]["typeId"] == 2


@pytest.fixture
def salesforce() -> Iterator[SalesforceSandbox]:
    sandbox = SalesforceSandbox().start()
    seed_salesforce(sandbox, 30, seed=2)
    yield sandbox
    sandbox.stop()


def client(sandbox: SalesforceSandbox, version: str) -> Salesforce:
    session = requests.Session()
    netloc = sandbox.url.removeprefix("http://")
    session.mount(f"https://{netloc}/", LoopbackAdapter(10))
    return Salesforce(instance_url=f"https://{netloc}", session_id="sandbox-session", version=version, session=session)


def test_salesforce_lists_and_serves_the_versions_current_clients_ask_for(salesforce: SalesforceSandbox) -> None:
    status, versions = call(salesforce.url + "/services/data", headers={})
    assert status == 200
    served = {v["version"]: v for v in versions}
    assert {"59.0", "61.0", "62.0", "64.0"} <= set(served)
    assert served["59.0"]["label"] == "Winter '24"
    assert served["62.0"] == {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"}
    for version in ("61.0", "62.0"):
        answer = client(salesforce, version).query("SELECT Id, Email FROM Lead")
        assert answer["totalSize"] == len(salesforce.records["Lead"])
        assert answer["records"][0]["attributes"]["url"].startswith(f"/services/data/v{version}/sobjects/Lead/")
    status, refused = call(
        salesforce.url + "/services/data/v99.0/query?q=SELECT+Id+FROM+Lead",
        headers={"Authorization": "Bearer sandbox-session"},
    )
    assert status == 404
    assert refused[0]["errorCode"] == "NOT_FOUND"


def test_salesforce_query_pages_link_in_the_version_asked(salesforce: SalesforceSandbox) -> None:
    for number in range(2100):
        salesforce.add("Lead", Email=f"more{number}@example.com", LastName="More", Company="Co")
    api = client(salesforce, "62.0")
    first = api.query("SELECT Id FROM Lead")
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/")
    rest = api.query_all("SELECT Id FROM Lead")
    assert rest["totalSize"] == len(rest["records"]) == len(salesforce.records["Lead"])


def test_salesforce_describes_and_answers_compound_address_fields(salesforce: SalesforceSandbox) -> None:
    api = client(salesforce, "62.0")
    fields = {f["name"]: f for f in api.Contact.describe()["fields"]}
    assert fields["MailingAddress"]["type"] == "address"
    assert fields["MailingAddress"]["updateable"] is False
    assert fields["MailingCity"]["compoundFieldName"] == "MailingAddress"
    assert {f["name"] for f in api.Lead.describe()["fields"]} >= {"Address", "Street", "City", "PostalCode"}
    contact = salesforce.add(
        "Contact", Email="addr@example.com", LastName="Addr", MailingCity="Lyon", MailingCountry="France"
    )
    found = api.query(f"SELECT Id, MailingAddress FROM Contact WHERE Id = '{contact}'")["records"][0]
    assert found["MailingAddress"] == {
        "street": None,
        "city": "Lyon",
        "state": None,
        "postalCode": None,
        "country": "France",
    }
    someone_else = next(r for r in api.query("SELECT Id, MailingAddress FROM Contact")["records"] if r["Id"] != contact)
    assert "MailingAddress" in someone_else


@pytest.mark.parametrize("platform", ["hubspot", "salesforce", "brevo"])
def test_readme_lists_every_endpoint_each_sandbox_serves(platform: str) -> None:
    sandbox = {"hubspot": HubSpotSandbox, "salesforce": SalesforceSandbox, "brevo": BrevoSandbox}[platform]()
    try:
        served = sandbox.endpoints()
    finally:
        sandbox.stop()
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## The sandboxes", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in section.splitlines() if line.lower().startswith(f"| {platform}"))
    assert [e for e in served if f"`{e}`" not in row] == []
    assert len(served) >= 17


def test_the_sandbox_command_holds_every_answer_as_long_as_asked() -> None:
    """`leadscore sandbox --latency-ms` imitates a platform far away, where one call at a time falls behind its pace."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "leadscore", "sandbox", "--platform", "brevo", "--port", str(port)]
    served = subprocess.Popen([*command, "--contacts", "3", "--latency-ms", "300"], stdout=subprocess.PIPE, text=True)
    try:
        assert served.stdout is not None
        assert "brevo sandbox on" in served.stdout.readline()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v3/contacts", headers={"api-key": "sandbox-key"})
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
            assert len(json.loads(answer.read())["contacts"]) == 3
        assert time.monotonic() - started >= 0.3
    finally:
        served.terminate()
        served.communicate(timeout=10)

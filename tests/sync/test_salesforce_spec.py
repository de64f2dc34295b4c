"""The Salesforce calls leadscore makes, against Salesforce's official Postman request templates
(../shared/specs/salesforce/postman-requests; no OpenAPI exists publicly). Skips, saying why, where absent."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.sync.platforms import PlatformRig, SalesforcePlatform, build_rig

TEMPLATES = ROOT.parent / "shared" / "specs" / "salesforce" / "postman-requests"
DOCUMENTED_ELSEWHERE = {
    "GET /services/data/v59.0/query/{locator}": "nextRecordsUrl of a query page (connectors/salesforce.md)",
    "POST /services/data/v59.0/tooling/sobjects/CustomField": "Tooling API field creation (connectors/salesforce.md)",
}

pytestmark = pytest.mark.skipif(not TEMPLATES.is_dir(), reason=f"Salesforce Postman templates not found at {TEMPLATES}")


def templates() -> list[tuple[str, re.Pattern[str]]]:
    """(method, path pattern) per template; a trailing ``/<SOBJECT_API_NAME>`` is optional (the collections
    templates carry it, the documented calls do not)."""
    found = []
    for path in sorted(TEMPLATES.glob("*/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        url = re.sub(r"^\{\{[^}]+\}\}(\{\{site\}\})?", "", data["url"].split("?")[0]).rstrip("/")
        url = url.replace("v{{version}}", "v59.0")
        optional_tail = url.endswith("/<SOBJECT_API_NAME>")
        url = url.removesuffix("/<SOBJECT_API_NAME>")
        parts = [
            "[^/]+" if re.fullmatch(r"\{\{[^}]+\}\}|<[A-Z_]+>", part) else re.escape(part) for part in url.split("/")
        ]
        pattern = "/".join(parts) + ("(/[^/]+)?" if optional_tail else "")
        found.append((str(data["method"]), re.compile(f"^{pattern}$")))
    return found


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[PlatformRig]:
    built = build_rig(SalesforcePlatform(), tmp_path, "state.db", 60, 3, limits={"bulk_threshold": 30})
    yield built
    built.store.close()
    built.connector.close()
    built.platform.sandbox.stop()


def test_every_call_leadscore_makes_has_an_official_template(rig: PlatformRig) -> None:
    rig.pipeline.run_cycle()
    lead = next(iter(rig.platform.sandbox.records["Lead"]))  # type: ignore[attr-defined]
    rig.platform.high_intent(lead, rig.store)
    rig.pipeline.run_cycle()
    known = templates()
    called = [name for name in rig.platform.sandbox.log.calls if not name.startswith("GET export")]
    assert any("jobs/ingest" in name for name in called), "the bulk path ran"
    for name in called:
        method, route = name.split(" ", 1)
        if name in DOCUMENTED_ELSEWHERE:
            continue
        concrete = re.sub(r"\{[^/]+\}", "x1", route.replace("{results}", "failedResults"))
        assert any(m == method and pattern.match(concrete) for m, pattern in known), f"no template for {name}"


def test_bulk_job_body_uses_the_template_fields() -> None:
    data = json.loads((TEMPLATES / "bulk_v2" / "create_job.json").read_text(encoding="utf-8"))
    template_keys = set(json.loads(data["rawModeData"]))
    sent = {"object", "operation", "contentType", "lineEnding"}
    assert template_keys <= sent
    assert sent - template_keys == {"contentType", "lineEnding"}, "the two others: connectors/salesforce.md"

"""``leadscore plan``: a proposed model's effect on every record, from the store alone, against decay alone."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from leadscore.cli import app
from leadscore.engine import engines, load_model_file, parse_model_text
from leadscore.sync.pipeline import Pipeline
from leadscore.sync.plan import write_targets
from leadscore.sync.preview import preview_source
from tests.conftest import DEFAULT_MODEL
from tests.sync.platforms import (
    BREVO_CONNECTOR_FAST,
    NOW,
    BrevoPlatform,
    HubSpotPlatform,
    PlatformRig,
    build_rig,
    two_models,
)

runner = CliRunner()


def test_plan_shows_the_band_moves_writes_and_calls_of_a_lower_mql_threshold_and_writes_nothing(
    tmp_path: Path,
) -> None:
    platform = HubSpotPlatform()
    rig = build_rig(platform, tmp_path, "state.db", 120, 8)
    try:
        assert rig.pipeline.run_cycle().status == "ok"
        shown = {cid: platform.shown(cid) for cid in platform.contact_ids()}
        writes_before = platform.write_calls()
        proposed = tmp_path / "proposed.yaml"
        proposed.write_text(DEFAULT_MODEL.read_text().replace("{name: MQL, min: 50", "{name: MQL, min: 30"))
        sources = tmp_path / "sources.yaml"
        sources.write_text(yaml.safe_dump({"sources": [platform.source()]}))
        result = runner.invoke(
            app,
            ["plan", "--model", str(proposed), "--current", str(DEFAULT_MODEL), "--state",
             f"sqlite:///{tmp_path / 'state.db'}", "--sources", str(sources), "--now", NOW.isoformat(),
             "--json", str(tmp_path / "plan.json")],
            env={"COLUMNS": "200"},
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert platform.write_calls() == writes_before, "plan calls no platform"
        assert {cid: platform.shown(cid) for cid in platform.contact_ids()} == shown
    finally:
        rig.close()
    [plan] = json.loads((tmp_path / "plan.json").read_text())
    lifted = sum(1 for s in shown.values() if s["band"] == "Warm" and int(s["score"] or 0) >= 30)
    assert lifted > 0, "the seed has Warm leads scoring 30-49"
    moves = plan["proposed"]["bands"]["lead"]
    assert moves["Warm -> MQL"] == lifted
    assert plan["proposed"]["entering"]["lead"]["MQL"] == lifted
    assert plan["proposed"]["list_adds"] == {"lead:MQL": lifted}
    assert plan["proposed"]["list_removes"] == {"lead:Warm": lifted}
    assert plan["proposed"]["writes"]["set_properties"] == lifted, "band and label change on each lifted lead"
    cost = plan["proposed"]["cost"]
    assert cost["calls"] == math.ceil(lifted / 100) + 2, "one batch update per 100, one call per list touched"
    assert cost["seconds"] == cost["calls"] / 19
    sample = plan["proposed"]["samples"]["lead"]["Warm -> MQL"][0]
    assert 30 <= sample["score"] < 50
    assert plan["decay_only"]["writes"] == {"set_properties": 0, "list_add": 0, "list_remove": 0}, (
        "as of the sync's own moment, decay alone changes nothing"
    )
    assert sum(plan["decay_only"]["bands"]["lead"].values()) == plan["contacts"]
    assert f"entering a higher band: Warm 0, MQL {lifted}, SQL 0" in result.stdout
    assert f"writes: {lifted} property updates, {lifted} list adds, {lifted} list removes" in result.stdout


def test_plan_a_week_later_tells_decay_from_the_model(tmp_path: Path) -> None:
    platform = HubSpotPlatform()
    rig = build_rig(platform, tmp_path, "state.db", 80, 4)
    try:
        assert rig.pipeline.run_cycle().status == "ok"
    finally:
        rig.close()
    later = "2026-12-20T12:00:00+00:00"
    result = runner.invoke(
        app,
        ["plan", "--model", str(DEFAULT_MODEL), "--current", str(DEFAULT_MODEL), "--state",
         f"sqlite:///{tmp_path / 'state.db'}", "--source", "hubspot", "--sources", str(tmp_path / "none.yaml"),
         "--now", later, "--json", str(tmp_path / "plan.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [plan] = json.loads((tmp_path / "plan.json").read_text())
    assert plan["proposed"]["writes"] == plan["decay_only"]["writes"], "the same model: all change is decay"
    assert plan["decay_only"]["writes"]["set_properties"] > 0, "four weeks of fading move scores"
    assert plan["proposed"]["cost"] is None, "without a sources file the platform, and so the cost, is unknown"


def test_a_repointed_plan_matched_once_equals_one_matched_twice(tmp_path: Path) -> None:
    """A model with new points and thresholds shares the matching of the model in force; a rule for an action
    that never happens changes nothing of its scores but stops the sharing, so both paths must plan alike."""
    platform = HubSpotPlatform()
    rig = build_rig(platform, tmp_path, "state.db", 150, 6)
    try:
        assert rig.pipeline.run_cycle().status == "ok"
        text = DEFAULT_MODEL.read_text().replace("{name: MQL, min: 50", "{name: MQL, min: 35")
        text = re.sub(r"points: (\d+)", lambda m: f"points: {int(m.group(1)) * 3 // 2}", text)
        repointed = engines(parse_model_text(text))
        never = text.replace("    behaviour:\n", f"    behaviour:\n{NEVER_RULE}", 1)
        unshared = engines(parse_model_text(never))
        current = engines(load_model_file(DEFAULT_MODEL))
        assert repointed[0].matches_like(current[0])
        assert not unshared[0].matches_like(current[0])
        shared_plan = preview_source(rig.store, "hubspot", current, repointed, NOW)
        separate_plan = preview_source(rig.store, "hubspot", current, unshared, NOW)
    finally:
        rig.close()
    assert shared_plan.proposed.bands == separate_plan.proposed.bands
    assert shared_plan.proposed.grades == separate_plan.proposed.grades
    assert shared_plan.proposed.writes == separate_plan.proposed.writes
    assert shared_plan.proposed.list_adds == separate_plan.proposed.list_adds
    assert shared_plan.proposed.samples == separate_plan.proposed.samples
    assert sum(shared_plan.proposed.writes.values()) > 0, "the new points move records"


NEVER_RULE = "      - {id: never_seen, action: carrier_pigeon, points: 5, reason: pigeon}\n"


LOWER_MQL = ("{name: MQL, min: 50", "{name: MQL, min: 30")


def brevo_plan(tmp_path: Path, platform: BrevoPlatform, proposed: Path, current: Path, limits: dict[str, Any]) -> Any:
    """What `leadscore plan` proposes for a Brevo source with these connector limits (its JSON)."""
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"sources": [{**platform.source(), "mapping": {"limits": limits}}]}))
    result = runner.invoke(
        app,
        ["plan", "--model", str(proposed), "--current", str(current), "--state",
         f"sqlite:///{tmp_path / 'state.db'}", "--sources", str(sources), "--now", NOW.isoformat(),
         "--json", str(tmp_path / "plan.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [plan] = json.loads((tmp_path / "plan.json").read_text())
    return plan["proposed"]


def write_calls_to_apply(rig: PlatformRig, proposed: Path, limits: dict[str, Any]) -> tuple[int, int]:
    """The write calls, and of them the imports, a cycle makes to bring the records to ``proposed``'s scores."""
    platform = rig.platform
    before = platform.write_calls()
    compiled = engines(load_model_file(proposed))
    connector = platform.connector(write_targets(compiled), limits=limits)
    try:
        assert Pipeline(rig.store, connector, compiled, clock=lambda: NOW).run_cycle(full_rescore=True).status == "ok"
    finally:
        connector.close()
    return platform.write_calls() - before, platform.sandbox.log.calls["POST /v3/contacts/import"]


@pytest.mark.parametrize(
    ("import_threshold", "path"),
    [(2000, "one /contacts/batch call per 100 records, their list moves riding along"), (5, "imports")],
    ids=["batch", "imports"],
)
def test_plan_says_the_brevo_write_calls_the_sync_then_makes(tmp_path: Path, import_threshold: int, path: str) -> None:
    """Brevo carries a record's list moves in its batch update, and a large change-set goes by import: the calls
    `plan` gives for a model are the calls the sync then makes to apply it."""
    platform = BrevoPlatform()
    limits = {**BREVO_CONNECTOR_FAST["limits"], "import_threshold": import_threshold}
    rig = build_rig(platform, tmp_path, "state.db", 150, 8, limits=limits)
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text(DEFAULT_MODEL.read_text().replace(*LOWER_MQL))
    try:
        assert rig.pipeline.run_cycle().status == "ok"
        planned = brevo_plan(tmp_path, platform, proposed, DEFAULT_MODEL, limits)
        made, imports = write_calls_to_apply(rig, proposed, limits)
    finally:
        rig.close()
    assert made > 0, "the lower threshold moves records"
    assert (imports > 0) == (path == "imports")
    assert planned["cost"]["calls"] == made, f"{path}: plan said {planned['cost']}, the sync made {made}"


def test_plan_weighs_brevo_s_import_threshold_in_records_not_list_moves(tmp_path: Path) -> None:
    """Brevo imports a change-set once ``import_threshold`` records move into lists with their update. With two
    models a record makes two list adds: a threshold above the records but not above their adds keeps the sync on
    batch updates, and `plan` must say so."""
    platform = BrevoPlatform()
    current = two_models(tmp_path)
    proposed = two_models(tmp_path, DEFAULT_MODEL.read_text().replace(*LOWER_MQL), "proposed.yaml")
    rig = build_rig(platform, tmp_path, "state.db", 150, 8, model=current)
    try:
        assert rig.pipeline.run_cycle().status == "ok"
        lifted = brevo_plan(tmp_path, platform, proposed, current, dict(BREVO_CONNECTOR_FAST["limits"]))
        records = lifted["list_adds"]["lead:MQL"]
        limits = {**BREVO_CONNECTOR_FAST["limits"], "import_threshold": records + 1}
        planned = brevo_plan(tmp_path, platform, proposed, current, limits)
        made, imports = write_calls_to_apply(rig, proposed, limits)
    finally:
        rig.close()
    assert planned["list_adds"] == {"lead:MQL": records, "partner:MQL": records}
    assert imports == 0, f"{records} records stay below the threshold of {records + 1}"
    assert planned["cost"]["calls"] == made == math.ceil(records / 100), f"plan said {planned['cost']}"

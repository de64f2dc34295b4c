"""One person across HubSpot, Brevo and Salesforce sandboxes: engagement in one platform raises the score the
others show, duplicates share the score, and a source that leaves the group goes back to its own score."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from leadscore.cli.main import app
from leadscore.engine import Engine, engines, load_model_file
from leadscore.errors import LeadscoreError, LeaseLostError
from leadscore.people import PeopleScope
from leadscore.rescore import rescore
from leadscore.store import SQLStore
from leadscore.sync.pipeline import CycleReport, Pipeline
from leadscore.sync.planner import PagePlanner
from tests.conftest import DEFAULT_MODEL, postgres_schema
from tests.sync.platforms import BREVO_CONNECTOR_FAST, NOW, PLATFORMS, Platform

NAMES = ("hubspot", "brevo", "salesforce")
LABELS = {"hubspot": "HubSpot", "brevo": "Brevo", "salesforce": "Salesforce"}
GROUP = PeopleScope(sources=NAMES, precedence={"industry": ("salesforce", "hubspot")}, labels=LABELS)
UNPACED = {"brevo": {"limits": {**BREVO_CONNECTOR_FAST["limits"], "contacts_per_second": 100_000}}}
ANN = "ann@shared.example"


@functools.cache
def default_engines() -> list[Engine]:
    return engines(load_model_file(DEFAULT_MODEL))


@dataclass
class Accounts:
    platforms: dict[str, Platform]
    ann: dict[str, str]
    """Ann's record id on each platform."""

    def cycle(self, store: SQLStore, name: str, people: PeopleScope | None = GROUP) -> CycleReport:
        connector = self.platforms[name].connector(**UNPACED.get(name, {}))
        try:
            return Pipeline(store, connector, default_engines(), clock=lambda: NOW, people=people).run_cycle()
        finally:
            connector.close()

    def failing_cycle(self, store: SQLStore, name: str) -> CycleReport:
        """A cycle while the platform answers every request with a 5xx; retries are kept short."""
        platform = self.platforms[name]
        platform.sandbox.faults.rate_5xx = 1.0
        overrides = {**UNPACED.get(name, {})}
        overrides["limits"] = {**overrides.get("limits", {}), "max_attempts": 2, "max_wait_seconds": 0.01}
        connector = platform.connector(**overrides)
        try:
            pipeline = Pipeline(store, connector, default_engines(), clock=lambda: NOW, people=GROUP)
            with pytest.raises(LeadscoreError):
                pipeline.run_cycle()
            assert pipeline.last_report is not None
            return pipeline.last_report
        finally:
            connector.close()
            platform.sandbox.faults.rate_5xx = 0.0

    def shown(self, name: str, contact_id: str | None = None) -> dict[str, str | None]:
        return self.platforms[name].shown(contact_id or self.ann[name])

    def in_band_list(self, name: str, contact_id: str | None = None) -> list[str]:
        record = contact_id or self.ann[name]
        return [band for band in ("New", "Warm", "MQL", "SQL") if record in self.platforms[name].members(band)]


@pytest.fixture
def accounts() -> Iterator[Accounts]:
    platforms = {name: PLATFORMS[name]() for name in NAMES}
    for platform in platforms.values():
        platform.seed(8, 3)
    ann = {
        "hubspot": platforms["hubspot"].add_person(ANN, industry="retail"),
        "brevo": platforms["brevo"].add_person(ANN),
        "salesforce": platforms["salesforce"].add_person(ANN, industry="software"),
    }
    try:
        yield Accounts(platforms, ann)
    finally:
        for platform in platforms.values():
            platform.sandbox.stop()


def first_cycles(accounts: Accounts, store: SQLStore) -> None:
    for name in NAMES:
        assert accounts.cycle(store, name).status == "ok"
    for name in NAMES:
        assert accounts.cycle(store, name).status == "ok", "a second round drains what others planned"


def test_a_brevo_engagement_raises_the_score_salesforce_and_hubspot_show(accounts: Accounts, store: SQLStore) -> None:
    first_cycles(accounts, store)
    before = {name: accounts.shown(name) for name in NAMES}
    assert before["hubspot"] == before["brevo"] == before["salesforce"], "one person, one score on every platform"

    accounts.platforms["brevo"].high_intent(accounts.ann["brevo"], store)
    brevo = accounts.cycle(store, "brevo")
    assert brevo.status == "ok"
    assert brevo.linked >= 2
    assert brevo.linked_changes["salesforce"] >= 1
    assert brevo.linked_changes["hubspot"] >= 1
    assert store.outbox_depth("salesforce") >= 1, "Brevo's cycle planned Salesforce's writes in its own transaction"
    assert accounts.shown("salesforce") == before["salesforce"], "Salesforce's writes wait for Salesforce's cycle"

    assert accounts.cycle(store, "salesforce").status == "ok"
    assert accounts.cycle(store, "hubspot").status == "ok"
    after = {name: accounts.shown(name) for name in NAMES}
    assert after["salesforce"] == after["hubspot"] == after["brevo"]
    assert int(after["salesforce"]["score"] or 0) > int(before["salesforce"]["score"] or 0)
    assert "(Brevo, 0d)" in (after["salesforce"]["reasons"] or ""), after["salesforce"]["reasons"]
    for name in NAMES:
        assert accounts.in_band_list(name) == [after[name]["band"]], f"{name}'s band list follows the person"
        assert store.outbox_depth(name) == 0

    again = [accounts.cycle(store, name) for name in NAMES]
    assert [sum(r.changes.values()) + sum(r.linked_changes.values()) for r in again] == [0, 0, 0], (
        "re-running changes nothing"
    )


def test_a_group_s_first_sync_writes_each_record_once_with_the_person_s_score(
    accounts: Accounts, store: SQLStore
) -> None:
    """Scored before Salesforce is read, Ann would first show HubSpot's view of her (and join that band's list, where
    a workflow may fire), then be written again: a source's first scoring waits for its partners' first pull."""
    reports = [accounts.cycle(store, name) for name in NAMES]
    assert [r.waiting_for for r in reports] == [["brevo", "salesforce"], ["salesforce"], []]
    assert [r.contacts_scored > 0 for r in reports] == [False, False, True]
    assert store.outbox_depth("hubspot") >= 1, "Salesforce's scoring planned the shared records' writes"
    for name in NAMES:
        assert accounts.cycle(store, name).waiting_for == []
    for name in NAMES:
        ids = accounts.platforms[name].contact_ids()
        histories = {contact: store.score_history(name, contact) for contact in ids}
        assert {contact: len(entries) for contact, entries in histories.items()} == dict.fromkeys(ids, 1), (
            f"every {name} record got one score, the person's"
        )
    assert accounts.shown("hubspot") == accounts.shown("brevo") == accounts.shown("salesforce")
    assert [sum(accounts.cycle(store, name).changes.values()) for name in NAMES] == [0, 0, 0]


def test_a_partner_that_never_pulls_holds_a_first_scoring_back_only_as_long_as_the_group_says(
    accounts: Accounts, store: SQLStore
) -> None:
    patient = PeopleScope(sources=NAMES, labels=LABELS, first_pull_wait=timedelta(minutes=30))
    connector = accounts.platforms["hubspot"].connector()
    try:
        for minutes, waits in ((0, True), (29, True), (30, False)):
            moment = NOW + timedelta(minutes=minutes)
            report = Pipeline(store, connector, default_engines(), clock=fixed(moment), people=patient).run_cycle()
            assert report.status == "ok"
            assert (report.waiting_for == ["brevo", "salesforce"]) is waits, (minutes, report.waiting_for)
            assert (report.contacts_scored > 0) is not waits
    finally:
        connector.close()
    assert accounts.shown("hubspot")["score"] is not None
    assert accounts.cycle(store, "brevo").waiting_for == ["salesforce"], "HubSpot was read: it is not waited for"


def test_one_sync_run_of_a_new_group_ends_with_every_source_scored_and_written(
    accounts: Accounts, store: SQLStore, tmp_path: Path
) -> None:
    """`leadscore sync --once` runs the sources one after another: those that waited for a later one's first pull
    run again at the end, so the run leaves nothing unscored or unwritten."""
    sources = tmp_path / "sources.yaml"
    entries = [accounts.platforms[name].source() for name in NAMES]
    sources.write_text(yaml.safe_dump({"sources": entries, "people": {"sources": list(NAMES)}}), encoding="utf-8")
    url = store.db.url.render_as_string(hide_password=False)
    reported = tmp_path / "reports.json"
    arguments = ["sync", "--once", "--sources", str(sources), "--state", url, "--model", str(DEFAULT_MODEL)]
    result = CliRunner().invoke(app, [*arguments, "--now", NOW.isoformat(), "--report-json", str(reported)])
    assert result.exit_code == 0, result.output
    assert "scoring waits for the first pull of brevo, salesforce (people group)" in result.output
    reports = json.loads(reported.read_text(encoding="utf-8"))
    assert [(r["source"], r["waiting_for"]) for r in reports] == [
        ("hubspot", ["brevo", "salesforce"]),
        ("brevo", ["salesforce"]),
        ("salesforce", []),
        ("hubspot", []),
        ("brevo", []),
    ]
    for name in NAMES:
        assert store.outbox_depth(name) == 0
        assert all(
            accounts.shown(name, contact)["score"] is not None for contact in accounts.platforms[name].contact_ids()
        )
    assert accounts.shown("hubspot") == accounts.shown("brevo") == accounts.shown("salesforce")


def test_a_change_another_source_already_planned_is_not_planned_again(accounts: Accounts, store: SQLStore) -> None:
    """Two sources' cycles run side by side in the daemon: Brevo's scoring plans Salesforce's write between
    Salesforce's drain of its outbox and its own scoring of the same person."""
    first_cycles(accounts, store)
    accounts.platforms["brevo"].high_intent(accounts.ann["brevo"], store)
    accounts.cycle(store, "brevo")
    waiting = store.outbox_depth("salesforce")
    assert waiting >= 1
    store.mark_for_rescore("salesforce", [accounts.ann["salesforce"]])
    planner = PagePlanner("salesforce", tuple(default_engines()), NOW, (), dry_run=False)
    done = rescore(store, "salesforce", default_engines(), NOW, only_queued=True, on_page=planner, people=GROUP)
    assert done.contacts == 1
    assert store.outbox_depth("salesforce") == waiting, "the waiting change is what the platform will show"
    assert accounts.cycle(store, "salesforce").applied == waiting


def test_a_platform_that_is_down_delays_only_its_own_writes(accounts: Accounts, store: SQLStore) -> None:
    first_cycles(accounts, store)
    accounts.platforms["brevo"].high_intent(accounts.ann["brevo"], store)
    assert accounts.cycle(store, "brevo").status == "ok"
    waiting = store.outbox_depth("salesforce")
    assert waiting >= 1
    assert accounts.failing_cycle(store, "salesforce").status == "failed"
    assert store.outbox_depth("salesforce") == waiting, "nothing planned for Salesforce is lost while it is down"
    assert accounts.cycle(store, "hubspot").status == "ok"
    assert store.outbox_depth("hubspot") == 0
    assert accounts.shown("hubspot") == accounts.shown("brevo"), "HubSpot got the person's new score meanwhile"
    assert accounts.shown("salesforce") != accounts.shown("brevo")
    assert accounts.cycle(store, "salesforce").status == "ok"
    assert accounts.shown("salesforce") == accounts.shown("brevo")


def test_records_outside_the_group_and_people_of_one_platform_keep_their_own_scores(
    accounts: Accounts, store: SQLStore
) -> None:
    only_here = accounts.platforms["hubspot"].add_person("solo@shared.example", industry="software")
    first_cycles(accounts, store)
    records = store.person_records("solo@shared.example")
    assert [(r.source, r.contact_id) for r in records] == [("hubspot", only_here)]
    assert accounts.shown("hubspot", only_here)["reasons"] is not None
    assert "(HubSpot" not in (accounts.shown("hubspot", only_here)["reasons"] or ""), "one source: no source named"


def test_duplicates_in_one_platform_both_get_the_person_s_score_and_are_reported(
    accounts: Accounts, store: SQLStore
) -> None:
    twin = accounts.platforms["hubspot"].add_person(ANN.upper(), job_title="VP Sales")
    reports = [accounts.cycle(store, name) for name in NAMES]
    for name in NAMES:
        accounts.cycle(store, name)
    assert reports[0].waiting_for, "HubSpot's first cycle waited for the others' first pull"
    listed = "\n".join(reports[2].duplicates)
    assert f"hubspot {accounts.ann['hubspot']} shares its email with hubspot {twin}" in listed, (
        "Salesforce's cycle scored Ann, so its report lists HubSpot's duplicate"
    )
    assert accounts.shown("hubspot", twin) == accounts.shown("hubspot") == accounts.shown("salesforce")


def test_a_source_that_leaves_the_group_goes_back_to_its_own_score(accounts: Accounts, store: SQLStore) -> None:
    accounts.platforms["salesforce"].high_intent(accounts.ann["salesforce"], store)
    first_cycles(accounts, store)
    shared = accounts.shown("brevo")
    assert "(Salesforce" in (shared["reasons"] or "")

    smaller = PeopleScope(sources=("hubspot", "salesforce"), labels=LABELS)
    report = accounts.cycle(store, "brevo", people=None)
    assert report.contacts_scored >= 9, "leaving the group rescores every record of the source"
    for name in ("hubspot", "salesforce"):
        accounts.cycle(store, name, people=smaller)
    alone = accounts.shown("brevo")
    assert int(alone["score"] or 0) < int(shared["score"] or 0)
    assert "Salesforce" not in (alone["reasons"] or "")
    assert accounts.in_band_list("brevo") == [alone["band"]], "the band list moved with the score"
    own = store_score_alone(store, "brevo", accounts.ann["brevo"])
    assert alone["score"] == str(own)
    assert accounts.shown("hubspot") == accounts.shown("salesforce")


def test_leadscore_person_shows_the_records_the_sources_of_fields_and_of_points(
    accounts: Accounts, store: SQLStore, tmp_path: Path
) -> None:
    accounts.platforms["brevo"].high_intent(accounts.ann["brevo"], store)
    first_cycles(accounts, store)
    sources = tmp_path / "sources.yaml"
    entries = [accounts.platforms[name].source() for name in NAMES]
    group = {"sources": list(NAMES), "profile_precedence": {"industry": ["salesforce", "hubspot"]}}
    sources.write_text(yaml.safe_dump({"sources": entries, "people": group}), encoding="utf-8")
    shown = tmp_path / "person.json"
    url = store.db.url.render_as_string(hide_password=False)
    arguments = ["person", "  ANN@shared.example", "--sources", str(sources), "--state", url]
    result = CliRunner().invoke(
        app, [*arguments, "--model", str(DEFAULT_MODEL), "--now", NOW.isoformat(), "--json", str(shown)]
    )
    assert result.exit_code == 0, result.output
    assert "the person across brevo, hubspot, salesforce" in result.output
    assert "industry = 'software' (salesforce)" in result.output
    report = json.loads(shown.read_text(encoding="utf-8"))
    assert sorted(r["source"] for r in report["records"]) == sorted(NAMES)
    (scored,) = report["people"]
    assert scored["profile_sources"]["industry"] == "salesforce"
    lead = scored["scores"][0]
    assert str(lead["score"]) == accounts.shown("salesforce")["score"]
    assert {"Brevo"} <= {source for c in lead["contributions"] for source in c["sources"]}
    assert any(c["rule"] == "industry_target" for c in lead["contributions"]), "software from Salesforce wins"

    missing = CliRunner().invoke(app, ["person", "nobody@x.example", "--sources", str(sources), "--state", url])
    assert missing.exit_code == 1
    assert "no record" in missing.output


def fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def store_score_alone(store: SQLStore, source: str, contact_id: str) -> int:
    """The record's score from its own source's profile and events only."""
    engine = default_engines()[0]
    for page in store.contacts_with_events(source):
        for contact, rows in page:
            if contact.id == contact_id:
                return engine.score_rows(contact, rows, NOW).score
    raise AssertionError(f"{source} {contact_id} not in the store")


@pytest.mark.postgres
def test_two_replicas_score_a_shared_group_one_at_a_time(accounts: Accounts) -> None:
    """On PostgreSQL each replica holds its own sources' leases; a people group's scoring is one replica's at a
    time, or a person scored by two replicas at once could have the older result saved last."""
    with postgres_schema() as url:
        replica, other = SQLStore.open(url), SQLStore.open(url)
        try:
            first_cycles(accounts, replica)
            accounts.platforms["brevo"].high_intent(accounts.ann["brevo"], replica)
            finished: list[CycleReport] = []
            with other.people_lease(GROUP.sources, lambda: False) as held:
                assert held
                cycle = threading.Thread(target=lambda: finished.append(accounts.cycle(replica, "brevo")))
                cycle.start()
                cycle.join(2.0)
                assert not finished, "the cycle waits while the other replica scores the group"
                assert replica.outbox_depth("salesforce") == 0, "nothing was scored or planned meanwhile"
            cycle.join(30)
            assert [r.status for r in finished] == ["ok"]
            assert replica.outbox_depth("salesforce") >= 1, "once the other replica let go, the person was scored"
        finally:
            replica.close()
            other.close()


@pytest.mark.postgres
def test_a_people_lease_whose_session_ends_stops_the_scoring(accounts: Accounts) -> None:
    with postgres_schema() as url:
        store = SQLStore.open(url)
        try:
            with store.people_lease(GROUP.sources, lambda: False) as lease:
                assert lease.pid is not None
                killer = create_engine(url)
                with killer.connect() as connection:
                    connection.execute(text("select pg_terminate_backend(:pid)"), {"pid": lease.pid})
                killer.dispose()
                with pytest.raises(LeaseLostError, match="lease on the store was lost"):
                    lease.check()
            with store.people_lease(GROUP.sources, lambda: False) as again:
                assert again, "the group can be taken again once its holder's session is gone"
        finally:
            store.close()

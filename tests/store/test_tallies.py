"""issue 18: the console's tallies agree with the scores and the history at every point, through first scores,
engagement, decay, deletions and merges, on both backends; the 0006 migration counts an older store's scores."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text

from leadscore.store import SQLStore
from leadscore.store import schema as tables
from leadscore.store.tallies import bucket_of, week_of
from leadscore.sync.pipeline import Pipeline
from tests.sync.platforms import NOW, HubSpotPlatform
from tests.sync.test_commit_boundaries import default_engines


def recounted(store: SQLStore) -> Counter[tuple[str, int, str, str]]:
    """Live records per (model, bucket, grade, band), counted from the scores and contacts tables."""
    s, c = tables.scores, tables.contacts
    query = select(s.c.model, s.c.score, s.c.grade, s.c.band).where(
        c.c.source == s.c.source, c.c.contact_id == s.c.contact_id, c.c.deleted.is_(False), c.c.merged_into.is_(None)
    )
    with store.db.connect() as connection:
        return Counter(
            (model, bucket_of(score), grade, band) for model, score, grade, band in connection.execute(query)
        )


def tallied(store: SQLStore) -> Counter[tuple[str, int, str, str]]:
    t = tables.score_counts
    with store.db.connect() as connection:
        rows = connection.execute(select(t.c.model, t.c.bucket, t.c.grade, t.c.band, t.c.records))
        return Counter({(m, b, g, band): n for m, b, g, band, n in rows if n})


def flows_from_history(store: SQLStore) -> tuple[Counter[tuple[int, str]], Counter[tuple[int, str]]]:
    h = tables.score_history
    entered: Counter[tuple[int, str]] = Counter()
    exited: Counter[tuple[int, str]] = Counter()
    with store.db.connect() as connection:
        for changed_at, old_band, new_band in connection.execute(select(h.c.changed_at, h.c.old_band, h.c.new_band)):
            if old_band != new_band:
                week = week_of(changed_at if changed_at.tzinfo else changed_at.replace(tzinfo=NOW.tzinfo))
                entered[(week, new_band)] += 1
                if old_band is not None:
                    exited[(week, old_band)] += 1
    return entered, exited


def test_tallies_follow_scores_through_engagement_decay_deletion_and_merge(store: SQLStore) -> None:
    platform = HubSpotPlatform()
    try:
        platform.seed(50, 8)

        def cycle(days: float) -> None:
            connector = platform.connector()
            try:
                pipeline = Pipeline(store, connector, default_engines(), clock=lambda: NOW + timedelta(days=days))
                assert pipeline.run_cycle(full_rescore=True).status == "ok"
            finally:
                connector.close()
            assert tallied(store) == recounted(store)

        cycle(0)
        ids = platform.contact_ids()
        platform.high_intent(ids[2], store)
        cycle(1)
        platform.sandbox.archive(int(ids[3]))
        platform.sandbox.merge(int(ids[5]), int(ids[4]))
        cycle(8)
        cycle(40)
        assert sum(tallied(store).values()) == len(platform.contact_ids())
        entered, exited = flows_from_history(store)
        flows = store.weekly_flows("lead", NOW - timedelta(weeks=1))
        assert sum(sum(f.entered.values()) for f in flows) == sum(entered.values())
        gone = 2
        assert sum(sum(f.left.values()) for f in flows) == sum(exited.values()) + gone, "the archived and merged left"
        assert sum(store.days_to_band("lead", ["New", "Warm", "MQL", "SQL"], NOW - timedelta(weeks=1)).values()) >= 1
        every = store.weekly_flows("lead", NOW - timedelta(weeks=520))
        by_band: Counter[str] = Counter()
        for (_, _, _, band), count in recounted(store).items():
            by_band[band] += count
        net: Counter[str] = Counter()
        for flow in every:
            net.update(flow.entered)
            net.subtract(flow.left)
        assert {b: n for b, n in net.items() if n} == dict(by_band), "entries minus exits (deletions too) = today"
        s = tables.scores
        with store.db.connect() as connection:
            scores = [score for (score,) in connection.execute(select(s.c.score).where(s.c.model == "lead"))]
        assert every[-1].average_score == pytest.approx(sum(scores) / len(scores))
    finally:
        platform.sandbox.stop()


def test_the_migration_counts_an_older_stores_live_scores_and_drops_the_gone_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    old = SQLStore.open(url, migrate=False)
    with old.db.begin() as connection:
        command.upgrade(old._alembic_config(connection), "0005")
        for contact_id, deleted in (("1", False), ("2", False), ("3", True)):
            connection.execute(
                text(
                    "insert into contacts (source, contact_id, email, profile, written, deleted, updated_at) "
                    "values ('hs', :id, null, '{}', '{}', :deleted, '2026-11-01 00:00:00')"
                ),
                {"id": contact_id, "deleted": deleted},
            )
            connection.execute(
                text(
                    "insert into scores (source, contact_id, model, score, fit, behaviour, grade, band, label, "
                    "reasons, scored_at) values ('hs', :id, 'lead', :score, 0, 0, 'D', 'Warm', 'D-Warm', '', "
                    "'2026-11-01 00:00:00')"
                ),
                {"id": contact_id, "score": 20 + int(contact_id)},
            )
    old.close()
    upgraded = SQLStore.open(url)
    try:
        assert upgraded.score_histogram("lead") == {20: 2}, "the deleted record's score is not counted"
        assert tallied(upgraded) == recounted(upgraded)
        with upgraded.db.connect() as connection:
            assert connection.execute(text("select count(*) from scores")).scalar_one() == 2
    finally:
        upgraded.close()

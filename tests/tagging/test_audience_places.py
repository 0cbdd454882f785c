"""``store:``, ``guide:`` and ``interacted:`` terms (tagging/audience.py, guides/audience_places.py):
who is inside and outside each, their refusals with positions, and a segment holding them
counted as a campaign's audience."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaign_world import customer, deliveries, fire, interaction, make_campaign
from guides.audience_places import PLACES
from guides.models import Binding, Guide, Store
from tagging import audience
from tagging.audience import AudienceError

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def town(frozen):  # noqa: ANN001, ANN201
    """Stores S1 (guides G1, G2) and S2 (G3); customers bound now, once, or never."""
    with frozen.transaction() as db_session:
        stores = [Store(code=code, name=code) for code in ("S1", "S2")]
        db_session.add_all(stores)
        db_session.flush()
        guides = {code: Guide(code=code, name=code, store_id=store.id, wecom_userid=f"w{code}")
                  for code, store in (("G1", stores[0]), ("G2", stores[0]), ("G3", stores[1]))}
        db_session.add_all(guides.values())
        db_session.flush()
    people = {name: customer(frozen, name, tags=tags) for name, tags in
              (("g1", ("奶粉",)), ("g2", ()), ("g3", ("奶粉",)), ("was_g1", ()), ("free", ("奶粉",)))}
    with frozen.transaction() as db_session:
        for name, code, ended in (("g1", "G1", None), ("g2", "G2", None), ("g3", "G3", None),
                                  ("was_g1", "G1", NOW - timedelta(days=1))):
            db_session.add(Binding(customer_id=people[name], guide_id=guides[code].id, bound_at=NOW - timedelta(days=9),
                                   ended_at=ended, channel="mp"))
    return people


def ids(runtime, text: str) -> set[int]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        query = audience.customer_ids_query(db_session=db_session, expr=text, now=runtime.clock.now(), places=PLACES)
        return set(db_session.scalars(query))


def named(people: dict[str, int], *names: str) -> set[int]:
    return {people[name] for name in names}


def test_store_and_guide_terms_hold_the_customers_bound_now(frozen, town):
    assert ids(frozen, "store:S1") == named(town, "g1", "g2")
    assert ids(frozen, "store:S2") == named(town, "g3")
    assert ids(frozen, "guide:G1") == named(town, "g1")
    assert ids(frozen, "!store:S1") == named(town, "g3", "was_g1", "free")
    assert ids(frozen, "store:S1 & 奶粉") == named(town, "g1")
    assert ids(frozen, "guide:G2 | store:S2 | 奶粉") == named(town, "g2", "g3", "g1", "free")
    assert ids(frozen, '(guide:"G1" | guide:G3) & !奶粉') == set()


def test_interacted_counts_whole_days_back_the_moment_n_days_ago_included(frozen, town):
    interaction(frozen, town["g1"], "text", NOW - timedelta(days=30))
    interaction(frozen, town["g2"], "text", NOW - timedelta(days=30, seconds=1))
    interaction(frozen, town["g2"], "follow", NOW - timedelta(days=90))
    interaction(frozen, town["g3"], "click", NOW - timedelta(hours=1))
    interaction(frozen, town["free"], "coupon_issued", NOW - timedelta(hours=1))  # ours, not theirs
    assert ids(frozen, "interacted:30d") == named(town, "g1", "g3")
    assert ids(frozen, "interacted:1d") == named(town, "g3")
    assert ids(frozen, "interacted:31d") == named(town, "g1", "g2", "g3")
    assert ids(frozen, "!interacted:30d") == named(town, "g2", "was_g1", "free")
    assert ids(frozen, "store:S1 & !interacted:30d") == named(town, "g2")


@pytest.mark.parametrize(("text", "message"), [
    ("奶粉 & store:S9", "no store with the code S9 at 11"),
    ("guide:G1 | guide:nobody", "no guide with the code nobody at 17"),
    ("interacted:0d", "interacted: takes whole days from 1d to 3650d, like interacted:30d at 11"),
    ("!interacted:30", "interacted: takes whole days from 1d to 3650d, like interacted:30d at 12"),
    ("interacted:3651d", "interacted: takes whole days from 1d to 3650d, like interacted:30d at 11"),
    ("interacted:３０d", "interacted: takes whole days from 1d to 3650d, like interacted:30d at 11"),
    ("store:", "expected a tag name at 6"),
])
def test_bad_terms_are_refused_at_their_position(frozen, town, text, message):
    with frozen.transaction() as db_session, pytest.raises(AudienceError) as raised:
        audience.resolve(db_session=db_session, text=text, places=PLACES)
    assert raised.value.message == message
    assert raised.value.position == int(message.rsplit(" ", 1)[1])


def test_without_places_a_store_term_is_refused_not_ignored(frozen, town):
    with frozen.transaction() as db_session, pytest.raises(AudienceError) as raised:
        audience.resolve(db_session=db_session, text="奶粉 & !store:S1")
    assert raised.value.position == 6 and "store: terms cannot be counted here" in raised.value.message


def test_a_segment_of_a_store_and_recent_interaction_is_a_campaigns_audience(frozen, client, manager, town):
    interaction(frozen, town["g1"], "text", NOW - timedelta(days=3))
    interaction(frozen, town["g2"], "text", NOW - timedelta(days=40))
    interaction(frozen, town["g3"], "text", NOW - timedelta(days=3))
    saved = client.post("/api/segments", json={"name": "S1活跃", "expr": "store:S1 & interacted:7d"}, headers=manager)
    assert saved.status_code == 201 and saved.get_json()["count"] == 1
    refused = client.post("/api/segments", json={"name": "坏", "expr": "guide:G9"}, headers=manager)
    assert refused.status_code == 422 and refused.get_json()["message"] == "no guide with the code G9 at 6"
    preview = client.get("/api/tags/audience", query_string={"expr": "segment:S1活跃 | guide:G3"}, headers=manager)
    assert preview.get_json()["count"] == 2
    campaign = make_campaign(frozen, audience={"expr": "segment:S1活跃 | store:S2"})
    assert {d.customer_id for d in deliveries(frozen, fire(frozen, campaign))} == named(town, "g1", "g3")

"""A fortnight of product-code claims and scans for the statistics' tests, made through the real
claiming functions (scrm.flows.claim_product_code, claiming.check_code and record_scan, as the
claim page calls them), on the brand's local days (Asia/Shanghai).

The period is 10-29 (Thu) … 11-04 (Wed); the one before 10-22 … 10-28. Stores S1 (guide G1
王小美) and S2 (guide G2 李小红); batches A (S1, 英氏多维营养米粉, 50 points), B (S2, 英氏婴儿面条,
a coupon with a stock of one) and C (no store, 英氏米饼, valid until 10-25); products.daily_claims
is 4 (the test modules set it).

- 10-27 amy (bound to G1) claims A#2 and A#3; someone unknown scans a forged code;
- 10-29 amy claims A#1;
- 10-30 amy scans A#1 again; the collector claims A#10-13 (routed to G1) and is refused A#14;
- 10-31 three strangers scan A#1 (claimed by amy); the collector claims A#14-17, refused A#18;
- 11-01 the collector claims A#18-21 (12 in the period, on 3 days);
- 11-02 bob (no guide) claims B#1 and is routed to G2; eve's B#2 finds the coupon out of stock;
- 11-03 the faker scans three forged codes; eve scans C#1, expired;
- 11-04 dan follows to claim A#30 (a new follower; points kept until he joins); gil, who does
  not follow, scans A#31.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coupon_world import make_customer, make_template
from guide_world import create_guide, create_store
from guides.binding import bind, guide_card
from member_world import make_member
from product_world import claim, code_of, make_batch
from scrm.products import claiming

NOW = datetime(2026, 11, 4, 2, 0, tzinfo=UTC)  # 10:00 on Wednesday 4 November in Shanghai
PERIOD = {"from": "2026-10-29", "to": "2026-11-04"}
CONFIG = {"products.daily_claims": 4}


def local(month: int, day: int, hour: int = 12) -> datetime:
    """A moment in Asia/Shanghai (UTC+8), as UTC."""
    return datetime(2026, month, day, hour, tzinfo=UTC) - timedelta(hours=8)


def scan(runtime, code: str, customer_id: int | None) -> str:  # noqa: ANN001
    """A scan the claim page refuses before any claim (not genuine, expired, not following): checked
    and recorded as the page does; the reason."""
    with runtime.transaction() as db_session:
        checked = claiming.check_code(runtime=runtime, db_session=db_session, code=code)
        result = checked.refused or "not_following"
        claiming.record_scan(db_session=db_session, config=runtime.config, result=result, at=runtime.clock.now(),
                             batch_id=checked.batch.id if checked.batch else None, serial=checked.serial,
                             customer_id=customer_id)
    return result


def forged(runtime, batch, serial: int) -> str:  # noqa: ANN001
    code = code_of(runtime, batch, serial)
    return code[:-1] + ("a" if code[-1] != "a" else "b")


def build(runtime) -> dict:  # noqa: ANN001
    """The fortnight above; the people, guides and batches by name."""
    clock = runtime.clock
    clock.set(local(10, 20))
    create_store(runtime, "S1", name="上海静安店")
    create_store(runtime, "S2", name="杭州西湖店")
    g1 = create_guide(runtime, "G1", store="S1", name="王小美")
    g2 = create_guide(runtime, "G2", store="S2", name="李小红")
    a = make_batch(runtime, store_code="S1", quantity=200)
    b = make_batch(runtime, store_code="S2", product="英氏婴儿面条", sku="YS-MT-02",
                   reward={"coupon_template_id": make_template(runtime, name="英氏到店礼", stock=1)})
    clock.set(local(10, 22))
    c = make_batch(runtime, product="英氏米饼", sku="YS-MB-03", quantity=10, valid_until="2026-10-25")
    amy = make_member(runtime, nickname="艾米", phone="13800001111")
    with runtime.transaction() as db_session:
        bind(runtime=runtime, db_session=db_session, customer_id=amy, guide=guide_card(db_session=db_session,
             guide_id=g1.id), code_id=None, channel="mp", at=clock.now(), previous_guide_id=None)
    collector = make_member(runtime, nickname="收码人", phone="13812345678")
    bob = make_member(runtime, nickname="鲍勃")
    strangers = [make_customer(runtime, nickname=f"路人{i}") for i in (1, 2, 3)]
    eve, faker, dan = (make_customer(runtime, nickname=name) for name in ("伊芙", "造假者", "丹"))
    gil = make_customer(runtime, nickname="吉尔", following=False)

    def on(month: int, day: int, hour: int = 12) -> None:
        clock.set(local(month, day, hour))

    on(10, 27)
    assert [claim(runtime, a, serial, amy).result for serial in (2, 3)] == ["claimed", "claimed"]
    assert scan(runtime, forged(runtime, a, 5), None) == "not_genuine"
    on(10, 29)
    assert claim(runtime, a, 1, amy).result == "claimed"
    on(10, 30)
    assert claim(runtime, a, 1, amy).result == "already_yours"
    assert [claim(runtime, a, serial, collector).result for serial in range(10, 15)] == ["claimed"] * 4 + ["daily_limit"]
    on(10, 31)
    assert [claim(runtime, a, serial, collector).result for serial in range(14, 19)] == ["claimed"] * 4 + ["daily_limit"]
    on(10, 31, 15)
    assert [claim(runtime, a, 1, someone).result for someone in strangers] == ["claimed_by_other"] * 3
    on(11, 1)
    assert [claim(runtime, a, serial, collector).result for serial in range(18, 22)] == ["claimed"] * 4
    on(11, 2)
    assert claim(runtime, b, 1, bob).result == "claimed"
    assert claim(runtime, b, 2, eve).result == "reward_unavailable"
    on(11, 3)
    assert [scan(runtime, forged(runtime, a, serial), faker) for serial in (40, 41, 42)] == ["not_genuine"] * 3
    assert scan(runtime, code_of(runtime, c, 1), eve) == "expired"
    on(11, 4, 9)
    assert claim(runtime, a, 30, dan, via="follow", new_follower=True).result == "claimed"
    assert scan(runtime, code_of(runtime, a, 31), gil) == "not_following"
    clock.set(NOW)
    return {"a": a, "b": b, "c": c, "g1": g1, "g2": g2, "amy": amy, "collector": collector, "bob": bob,
            "eve": eve, "faker": faker, "dan": dan, "gil": gil, "strangers": strangers}

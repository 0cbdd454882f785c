"""The webhooks' front door: verification, official envelopes, every sample, every bad input."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from platform_world import SAMPLES_DIR, reconfigure
from handlers.models import CallbackRecord
from handlers.signed_callbacks import CallbackSender, mp_text_xml
from scrm.clock import FrozenClock, as_utc
from scrm.customers.models import Customer, CustomerIdentity, Interaction

ENVELOPES = json.loads((SAMPLES_DIR / "envelopes.json").read_text())


def counts(runtime) -> tuple[int, int, int]:
    with runtime.transaction() as db_session:
        return tuple(
            db_session.scalar(select(func.count()).select_from(model)) for model in (CallbackRecord, Interaction, Customer)
        )


def freeze(runtime, timestamp: str | int) -> None:
    runtime.clock = FrozenClock(datetime.fromtimestamp(int(timestamp), UTC))


def text_xml(runtime, content: str = "hello", msg_id: str = "1001", openid: str = "oCustomer1") -> str:
    return mp_text_xml(
        to=runtime.config.wechat.mp.original_id, openid=openid, content=content, msg_id=msg_id, create_time=int(time.time())
    )


# -- verification ------------------------------------------------------------------------


def test_mp_get_verification_echoes(client, wechat):
    signed = wechat.sender("mp", encrypt=False).sign("<xml/>")
    response = client.get(f"{signed.path}&echostr=hello123")
    assert response.status_code == 200 and response.data == b"hello123"


def test_mp_get_verification_with_a_bad_signature_is_403(client, wechat):
    signed = wechat.sender("mp", encrypt=False).sign("<xml/>")
    response = client.get(signed.path.replace("signature=", "signature=0") + "&echostr=x")
    assert response.status_code == 403


@pytest.mark.parametrize("name", ["work_official_sample", "work_wechatpy_fixture"])
def test_work_get_verification_decrypts_the_published_echostr(runtime, client, name):
    envelope = ENVELOPES[name]
    reconfigure(
        runtime,
        {
            "wechat.work.token": envelope["token"],
            "wechat.work.encoding_aes_key": envelope["encoding_aes_key"],
            "wechat.work.corp_id": envelope["receive_id_corpid"],
        },
    )
    verify = envelope["verify_url"]
    freeze(runtime, verify["timestamp"])
    query = {k: verify[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    response = client.get("/wechat/work", query_string=query)
    assert response.status_code == 200
    assert response.data.decode() == verify["expected_plain_echostr"]


# -- official envelopes ------------------------------------------------------------------


def test_official_mp_safe_mode_envelope_is_decrypted_and_recorded(runtime, client):
    envelope = ENVELOPES["mp_official_sample"]
    plain = (SAMPLES_DIR / envelope["expected_plaintext_file"]).read_text()
    reconfigure(
        runtime,
        {
            "wechat.mp.token": envelope["token"],
            "wechat.mp.encoding_aes_key": envelope["encoding_aes_key"],
            "wechat.mp.app_id": envelope["appid"],
            "wechat.mp.original_id": "gh_10f6c3c3ac5a",
        },
    )
    freeze(runtime, envelope["query"]["timestamp"])
    body = (SAMPLES_DIR / envelope["body_file"]).read_bytes()
    response = client.post("/wechat/mp", query_string=envelope["query"], data=body)
    assert response.status_code == 200, response.data
    with runtime.transaction() as db_session:
        record = db_session.scalars(select(CallbackRecord)).one()
        assert record.dedupe_key == "mp:msg:6054768590064713728"
        assert record.payload["Content"] == "abcdteT" and "abcdteT" in plain


@pytest.mark.parametrize("name", ["work_official_sample", "work_wechatpy_fixture", "work_go_workwx_fixture"])
def test_published_wecom_envelopes_are_decrypted(runtime, client, name):
    envelope = ENVELOPES[name]
    reconfigure(
        runtime,
        {
            "wechat.work.token": envelope["token"],
            "wechat.work.encoding_aes_key": envelope["encoding_aes_key"],
            "wechat.work.corp_id": envelope["receive_id_corpid"],
        },
    )
    freeze(runtime, envelope["post"]["timestamp"])
    body = (SAMPLES_DIR / envelope["body_file"]).read_bytes()
    response = client.post("/wechat/work", query_string=envelope["post"], data=body)
    assert response.status_code == 200, response.data
    assert counts(runtime)[0] == 1


# -- every sample, as WeChat would send it now ----------------------------------------------

OA_SAMPLES = sorted(p.name for p in SAMPLES_DIR.glob("oa_*.xml"))
WORK_SAMPLES = sorted(
    p.name for p in SAMPLES_DIR.glob("work_*.xml") if "encrypted" not in p.name and not p.name.endswith(".plain.xml")
)


@pytest.mark.parametrize("encrypt", [False, True], ids=["plaintext", "safe-mode"])
@pytest.mark.parametrize("name", OA_SAMPLES)
def test_every_oa_sample_is_accepted_and_recorded(runtime, client, name, encrypt):
    from handlers.wire import parse_xml

    xml = (SAMPLES_DIR / name).read_text()
    reconfigure(runtime, {"wechat.mp.original_id": parse_xml(xml)["ToUserName"]})
    signed = CallbackSender.from_config(runtime.config, "mp", encrypt=encrypt).sign(xml)
    response = client.post(signed.path, data=signed.body)
    assert response.status_code == 200, response.data
    ledger, timeline, _ = counts(runtime)
    assert ledger == 1
    assert timeline == (0 if "templatesendjobfinish" in name else 1)


@pytest.mark.parametrize("name", WORK_SAMPLES)
def test_every_wecom_sample_is_accepted_and_recorded(runtime, client, name):
    from handlers.wire import parse_xml

    xml = (SAMPLES_DIR / name).read_text()
    to_user = parse_xml(xml).get("ToUserName") or parse_xml(xml).get("SuiteId")
    reconfigure(runtime, {"wechat.work.corp_id": to_user})
    signed = CallbackSender.from_config(runtime.config, "work").sign(xml)
    response = client.post(signed.path, data=signed.body)
    if "3rdparty_suite" in name:
        # A third-party suite's callback (InfoType, no ToUserName) is not for a self-built
        # app: refused as not addressed to this corp, nothing stored.
        assert response.status_code == 400 and counts(runtime) == (0, 0, 0)
        return
    assert response.status_code == 200, response.data
    assert response.data == b"success"
    assert counts(runtime)[0] == 1


# -- bad input: its status, and nothing stored ----------------------------------------------


def _bad_requests(runtime, wechat):
    """(name, path, body, expected status) for each bad input of SPEC §3."""
    mp_plain = wechat.sender("mp", encrypt=False)
    mp_aes = wechat.sender("mp", encrypt=True)
    good = text_xml(runtime)
    ok = mp_plain.sign(good)
    # A minute beyond the 300 s window each way: the requests are sent seconds after they are
    # signed on a busy machine, and a future timestamp comes closer as they wait.
    stale = mp_plain.sign(good, timestamp=int(time.time()) - 360)
    future = mp_plain.sign(good, timestamp=int(time.time()) + 360)
    bomb = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><xml><Content>&lol2;</Content></xml>'
    xxe = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>'
    other_app = CallbackSender(
        "mp", mp_aes.keys.__class__(mp_aes.keys.token, mp_aes.keys.aes_keys, "wxSOMEOTHERAPP00001"), encrypt=True
    ).sign(good)
    garbage = mp_aes.sign(good)
    garbage_body = b"<xml><Encrypt><![CDATA[bm90IGEgcmVhbCBlbnZlbG9wZQ==]]></Encrypt></xml>"
    from handlers.wire import signature_of

    qs = dict(part.split("=", 1) for part in garbage.query.split("&"))
    qs["msg_signature"] = signature_of(mp_aes.keys.token, qs["timestamp"], qs["nonce"], "bm90IGEgcmVhbCBlbnZlbG9wZQ==")
    garbage_path = "/wechat/mp?" + "&".join(f"{k}={v}" for k, v in qs.items())
    wrong_to = mp_plain.sign(good.replace(runtime.config.wechat.mp.original_id, "gh_someoneelse"))
    work = wechat.sender("work")
    work_good = f"<xml><ToUserName><![CDATA[{runtime.config.wechat.work.corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmX]]></ExternalUserID></xml>"
    other_corp = CallbackSender("work", work.keys.__class__(work.keys.token, work.keys.aes_keys, "wwOTHERCORP")).sign(work_good)
    work_ok = work.sign(work_good)
    return [
        ("wrong signature", ok.path.replace("signature=", "signature=1"), ok.body, 403),
        ("missing signature", "/wechat/mp?" + "&".join(p for p in ok.query.split("&") if not p.startswith("signature=")), ok.body, 403),
        ("stale timestamp", stale.path, stale.body, 403),
        ("future timestamp", future.path, future.body, 403),
        ("oversize body", ok.path, b"<xml>" + b"x" * (64 * 1024) + b"</xml>", 413),
        ("malformed XML", mp_plain.sign("<xml><Content>unclosed</xml>").path, b"<xml><Content>unclosed</xml>", 400),
        ("XML bomb", mp_plain.sign(bomb).path, bomb.encode(), 400),
        ("XXE", mp_plain.sign(xxe).path, xxe.encode(), 400),
        ("wrong ToUserName", wrong_to.path, wrong_to.body, 400),
        ("envelope for another app", other_app.path, other_app.body, 400),
        ("undecryptable payload", garbage_path, garbage_body, 403),
        ("wrong msg_signature", mp_aes.sign(good).path.replace("msg_signature=", "msg_signature=9"), mp_aes.sign(good).body, 403),
        ("wecom wrong corp", other_corp.path, other_corp.body, 400),
        ("wecom wrong msg_signature", work_ok.path.replace("msg_signature=", "msg_signature=9"), work_ok.body, 403),
        ("wecom not encrypted", work_ok.path, work_good.encode(), 400),
    ]


def test_every_bad_input_gets_its_status_and_stores_nothing(runtime, client, wechat):
    results = {}
    for name, path, body, expected in _bad_requests(runtime, wechat):
        response = client.post(path, data=body, content_type="text/xml")
        results[name] = (response.status_code, expected)
    assert {name: got for name, (got, _) in results.items()} == {name: want for name, (_, want) in results.items()}
    assert counts(runtime) == (0, 0, 0)
    assert runtime.queue.stats()["depth"] == 0


def test_previous_encoding_aes_key_is_still_accepted(runtime, client):
    old_key = runtime.config.wechat.mp.encoding_aes_key
    old_sender = CallbackSender.from_config(runtime.config, "mp", encrypt=True)
    reconfigure(
        runtime,
        {"wechat.mp.encoding_aes_key": "Z" * 43, "wechat.mp.previous_encoding_aes_key": old_key},
    )
    signed = old_sender.sign(text_xml(runtime))
    assert client.post(signed.path, data=signed.body).status_code == 200
    reconfigure(runtime, {"wechat.mp.previous_encoding_aes_key": None})
    signed = old_sender.sign(text_xml(runtime, msg_id="1002"))
    assert client.post(signed.path, data=signed.body).status_code == 403


def test_a_new_customer_is_first_seen_at_the_apps_time_not_the_database_servers(runtime, client):
    """``created_at`` of a customer and their identity is the app's clock (a backfilled history,
    a frozen test clock), as every other recorded time, so a profile's 首次出现 agrees with its
    timeline."""
    seen = datetime(2026, 3, 1, 6, 5, tzinfo=UTC)  # months before the database server's now()
    freeze(runtime, seen.timestamp())
    xml = mp_text_xml(to=runtime.config.wechat.mp.original_id, openid="oFirstSeen", content="在吗",
                      msg_id="7001", create_time=int(seen.timestamp()))
    signed = CallbackSender.from_config(runtime.config, "mp", encrypt=False).sign(xml, timestamp=int(seen.timestamp()))
    assert client.post(signed.path, data=signed.body).status_code == 200
    with runtime.transaction() as db_session:
        identity = db_session.scalar(select(CustomerIdentity).where(CustomerIdentity.external_id == "oFirstSeen"))
        customer = db_session.get(Customer, identity.customer_id)
        first_said = db_session.scalar(select(Interaction.occurred_at).where(Interaction.customer_id == customer.id))
        assert as_utc(customer.created_at) == as_utc(identity.created_at) == as_utc(first_said) == seen

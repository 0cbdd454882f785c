"""Forged callbacks from one leaked URL (SPEC §12). A plaintext signature covers only token,
timestamp and nonce, and WeChat puts it in every callback URL, safe mode included: with
``wechat.mp.require_safe_mode`` plaintext POSTs are refused, and a signature seen once is
bound to its body, across processes (the Redis of the runtime)."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from guides.models import Binding
from handlers.models import CallbackRecord
from handlers.signed_callbacks import CallbackSender, mp_event_xml, mp_text_xml
from platform_world import reconfigure
from scrm.config import load_config
from scrm.customers.models import Customer, Interaction


def stored(runtime) -> tuple[int, int, int]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return tuple(db_session.scalar(select(func.count()).select_from(model))
                     for model in (CallbackRecord, Interaction, Customer))


def text(runtime, content: str, msg_id: str) -> str:  # noqa: ANN001
    return mp_text_xml(to=runtime.config.wechat.mp.original_id, openid="oLeaked", content=content, msg_id=msg_id,
                       create_time=int(time.time()))


def test_safe_mode_required_refuses_plaintext_and_takes_encrypted_callbacks(runtime, client):
    reconfigure(runtime, {"wechat.mp.require_safe_mode": True})
    plain = CallbackSender.from_config(runtime.config, "mp", encrypt=False).sign(text(runtime, "hi", "1"))
    refused = client.post(plain.path, data=plain.body, content_type="text/xml")
    assert refused.status_code == 403 and "require_safe_mode" in refused.get_data(as_text=True)
    assert stored(runtime) == (0, 0, 0)
    sealed = CallbackSender.from_config(runtime.config, "mp", encrypt=True).sign(text(runtime, "hi", "2"))
    assert client.post(sealed.path, data=sealed.body, content_type="text/xml").status_code == 200
    assert stored(runtime)[0] == 1


def test_safe_mode_is_required_by_default_outside_sandbox_mode():
    production = {"SCRM_WECHAT__SANDBOX": "false", "SCRM_SECURITY__SECRET_KEY": "k" * 40}
    assert load_config(environ=production).mp_requires_safe_mode is True
    assert load_config(environ={}).mp_requires_safe_mode is False  # the sandbox plays plaintext too
    opted_out = {**production, "SCRM_WECHAT__MP__REQUIRE_SAFE_MODE": "false"}
    assert load_config(environ=opted_out).mp_requires_safe_mode is False


def test_a_leaked_signature_does_not_carry_another_body(runtime, client):
    sender = CallbackSender.from_config(runtime.config, "mp", encrypt=False)
    first = sender.sign(text(runtime, "hi", "10"))
    assert client.post(first.path, data=first.body, content_type="text/xml").status_code == 200
    forged_body = mp_event_xml(to=runtime.config.wechat.mp.original_id, openid="oMadeUp", event="subscribe",
                               create_time=int(time.time()), key="qrscene_anything").encode()
    forged = client.post(first.path, data=forged_body, content_type="text/xml")
    assert (forged.status_code, forged.get_data(as_text=True)) == (403, "this signature came with another body")
    assert client.post(first.path, data=first.body, content_type="text/xml").status_code == 200  # WeChat resending
    assert stored(runtime) == (1, 1, 1)
    with runtime.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(Binding)) == 0

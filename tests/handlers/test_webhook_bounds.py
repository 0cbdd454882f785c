"""Callbacks whose ids or numbers do not fit are refused with 400 before anything is stored
(SPEC §12), alike on SQLite and PostgreSQL (PostgreSQL used to answer 500, and WeChat retried)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from handlers.models import CallbackRecord
from handlers.signed_callbacks import CallbackSender, mp_message_xml, mp_text_xml, work_contact_xml
from scrm.customers.models import Customer, Interaction


def stored(runtime) -> tuple[int, int, int]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return tuple(db_session.scalar(select(func.count()).select_from(model))
                     for model in (CallbackRecord, Interaction, Customer))


def post(runtime, client, channel: str, xml: str):  # noqa: ANN001, ANN201
    signed = CallbackSender.from_config(runtime.config, channel, encrypt=channel == "work").sign(xml)
    return client.post(signed.path, data=signed.body, content_type="text/xml")


def test_an_openid_longer_than_64_characters_is_refused(runtime, client):
    xml = mp_text_xml(to=runtime.config.wechat.mp.original_id, openid="o" * 65, content="hi", msg_id="1",
                      create_time=int(time.time()))
    response = post(runtime, client, "mp", xml)
    assert (response.status_code, response.get_data(as_text=True)) == (400, "FromUserName is longer than 64 characters")
    assert stored(runtime) == (0, 0, 0)
    fits = mp_text_xml(to=runtime.config.wechat.mp.original_id, openid="o" * 64, content="hi", msg_id="2",
                       create_time=int(time.time()))
    assert post(runtime, client, "mp", fits).status_code == 200


@pytest.mark.parametrize("field", ["ExternalUserID", "UserID"])
def test_wecom_ids_of_300_characters_are_refused(runtime, client, field):
    ids = {"userid": "zhangsan", "external_userid": "wmCustomer"}
    ids["userid" if field == "UserID" else "external_userid"] = "w" * 300
    xml = work_contact_xml(corp_id=runtime.config.wechat.work.corp_id, change_type="add_external_contact",
                           create_time=int(time.time()), **ids)
    response = post(runtime, client, "work", xml)
    assert response.status_code == 400 and field in response.get_data(as_text=True)
    assert stored(runtime) == (0, 0, 0)


@pytest.mark.parametrize("value", ["1e999", "-1e999", "NaN", "inf"])
def test_a_location_that_is_not_a_finite_number_is_refused(runtime, client, value):
    xml = mp_message_xml(to=runtime.config.wechat.mp.original_id, openid="oWhere", create_time=int(time.time()),
                         msg_type="location", fields={"Location_X": value, "Location_Y": "121.47", "Scale": "15",
                                                      "Label": "上海", "MsgId": "77"})
    response = post(runtime, client, "mp", xml)
    assert (response.status_code, response.get_data(as_text=True)) == (400, "Location_X is not a finite number")
    assert stored(runtime) == (0, 0, 0)

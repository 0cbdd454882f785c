"""Stores, guides and their codes for tests: made through the service, codes asked of the
sandbox WeChat by running the queued jobs, as production would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from guides import service
from guides.models import Guide
from guides.schemas import GuideIn, StoreIn
from qrcodes.service import codes_of
from scrm.sandbox import world

_ids = itertools.count(1)


@dataclass(frozen=True)
class GuideInfo:
    id: int
    code: str
    name: str
    store: str
    wecom_userid: str
    mp_scene: str
    work_scene: str


def create_store(runtime, code: str = "S1", name: str = "上海静安店") -> str:  # noqa: ANN001
    with runtime.transaction() as db_session:
        service.create_store(runtime=runtime, db_session=db_session, store_in=StoreIn(code=code, name=name))
    runtime.queue.run_pending()
    return code


def create_guide(runtime, code: str, *, store: str = "S1", name: str | None = None, **fields) -> GuideInfo:  # noqa: ANN001, ANN003
    userid = fields.pop("wecom_userid", f"member-{code.lower()}")
    name = name or f"导购{code}"
    world.add_member(runtime.redis, userid, name)
    with runtime.transaction() as db_session:
        guide_in = GuideIn(code=code, name=name, store=store, wecom_userid=userid, **fields)
        service.create_guide(runtime=runtime, db_session=db_session, guide_in=guide_in)
    runtime.queue.run_pending()
    return guide_info(runtime, code)


def guide_info(runtime, code: str) -> GuideInfo:  # noqa: ANN001
    with runtime.transaction() as db_session:
        guide = service.get_guide(db_session=db_session, code=code)
        codes = codes_of(db_session=db_session, guide_id=guide.id)
        return GuideInfo(guide.id, guide.code, guide.name, guide.store.code, guide.wecom_userid,
                         codes["mp"].scene, codes["work"].scene)


def store_scene(runtime, code: str) -> str:  # noqa: ANN001
    with runtime.transaction() as db_session:
        store = service.get_store(db_session=db_session, code=code)
        return codes_of(db_session=db_session, store_id=store.id)["mp"].scene


def guide_id(runtime, code: str) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.query(Guide.id).filter(Guide.code == code).scalar()


def openid() -> str:
    return f"o{next(_ids):08d}customer"


def send(runtime, client, channel: str, xml: str):  # noqa: ANN001, ANN201
    """POST a callback signed as WeChat would at the runtime's clock (frozen or not)."""
    from handlers.signed_callbacks import CallbackSender

    sender = CallbackSender.from_config(runtime.config, channel, encrypt=channel == "work")
    signed = sender.sign(xml, timestamp=int(runtime.clock.now().timestamp()))
    response = client.post(signed.path, data=signed.body, content_type="text/xml")
    assert response.status_code == 200, response.data
    return response


def reply_of(runtime, channel: str, response) -> str:  # noqa: ANN001
    from handlers.signed_callbacks import CallbackSender

    return CallbackSender.from_config(runtime.config, channel, encrypt=channel == "work").open_reply(response.data)


def mp_scan(runtime, client, who: str, scene: str, *, event: str = "subscribe", create_time: int | None = None):  # noqa: ANN001, ANN201
    """A customer follows by a code (``subscribe`` with ``qrscene_``) or, following already,
    scans it (``SCAN``)."""
    from handlers.signed_callbacks import mp_event_xml

    key = f"qrscene_{scene}" if event == "subscribe" else scene
    xml = mp_event_xml(to=runtime.config.wechat.mp.original_id, openid=who, event=event,
                       create_time=create_time or int(runtime.clock.now().timestamp()), key=key)
    return send(runtime, client, "mp", xml)


def work_add(runtime, client, external_userid: str, userid: str, state: str | None, *, welcome: bool = True,  # noqa: ANN001, ANN201
             create_time: int | None = None):
    """A customer adds member ``userid`` on WeCom through a contact way with ``state``; the
    sandbox WeCom issues the event's WelcomeCode (valid 20 s) as WeCom would."""
    from handlers.signed_callbacks import work_contact_xml

    world.add_external_contact(runtime.redis, external_userid, userid=userid, state=state or "")
    code = world.issue_welcome_code(runtime.redis, userid=userid, external_userid=external_userid,
                                    at=runtime.clock.now()) if welcome else None
    xml = work_contact_xml(corp_id=runtime.config.wechat.work.corp_id, change_type="add_external_contact",
                           userid=userid, external_userid=external_userid, state=state, welcome_code=code,
                           create_time=create_time or int(runtime.clock.now().timestamp()))
    return send(runtime, client, "work", xml)


def sign_in_guide(runtime, client, code: str) -> None:  # noqa: ANN001
    """The guide ``code`` signed in on ``client`` by a login link (their /m/ pages)."""
    from urllib.parse import urlsplit

    from guides.login_links import make_link

    with runtime.transaction() as db_session:
        parts = urlsplit(make_link(runtime=runtime, db_session=db_session, guide_code=code))
    assert client.get(f"{parts.path}?{parts.query}").status_code == 302


# A phone's browser inside WeCom (企业微信): what the guide's scanning pages look for before they
# sign in to WeCom's JS-SDK.
WECOM_USER_AGENT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                    "Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh")


def wecom_scanner(context, result: str) -> None:  # noqa: ANN001
    """WeCom's JS-SDK in ``context`` (a Playwright browser context), played here as the edge it is:
    ``wx.config`` keeps what the page signed in ``window.wxSigned``, ``wx.ready`` fires, and
    ``wx.scanQRCode`` keeps what it was asked in ``window.wxAsked`` and "reads" ``result``."""
    import json

    from guides import jssdk

    stub = ("window.wx = {config: function (c) { window.wxSigned = c; },"
            " ready: function (f) { setTimeout(f, 0); }, error: function (f) {},"
            " scanQRCode: function (o) { window.wxAsked = o;"
            f" setTimeout(function () {{ o.success({{resultStr: {json.dumps(result)}}}); }}, 0); }}}};")
    context.route(jssdk.SCRIPT, lambda route: route.fulfill(status=200, content_type="application/javascript",
                                                             body=stub))

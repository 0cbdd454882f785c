"""Asking WeChat for a guide's codes (SPEC §6, §12): the MP permanent QR code and the WeCom
contact way, both carrying the guide's scene; transient failures retried without a second
contact way, permanent ones failed at once and visible in the API."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from platform_world import reconfigure
from guides import service
from guides.schemas import GuideIn
from guide_world import create_store
from qrcodes.jobs import CodeImageUnavailable, create_code
from qrcodes.models import ChannelCode
from qrcodes.service import codes_of
from scrm.sandbox import state, world
from scrm.wechat.errors import WeChatError

CONTACT_WAY_IMAGES = "/sandbox/wechat/work/contact_way/"


def add_guide(runtime, code: str = "G1") -> dict[str, int]:  # noqa: ANN001
    """A guide of store S1 whose codes are asked for but not made yet: code ids by channel."""
    userid = f"member-{code.lower()}"
    world.add_member(runtime.redis, userid, f"导购{code}")
    with runtime.transaction() as db_session:
        guide = service.create_guide(runtime=runtime, db_session=db_session,
                                     guide_in=GuideIn(code=code, name=f"导购{code}", store="S1", wecom_userid=userid))
        return {channel: c.id for channel, c in codes_of(db_session=db_session, guide_id=guide.id).items()}


def code_row(runtime, code_id: int) -> ChannelCode:  # noqa: ANN001
    with runtime.transaction() as db_session:
        row = db_session.get(ChannelCode, code_id)
        db_session.expunge(row)
        return row


def calls(runtime, channel: str, api: str, scene: str) -> list[dict]:  # noqa: ANN001
    """The sandbox's record of ``api`` calls about ``scene`` (the MP scene_str, the WeCom state)."""
    def about(call: dict) -> bool:
        body = call["body"] or {}
        if channel == "mp":
            return body.get("action_info", {}).get("scene", {}).get("scene_str") == scene
        return body.get("state") == scene

    return [c for c in state.list_calls(runtime.redis, channel=channel, api=api) if about(c)]


@pytest.fixture
def store(runtime):  # noqa: ANN001, ANN201
    create_store(runtime)
    return runtime


class ContactWayImagesDown:
    """WeCom's image host failing (``times`` requests, or until ``down`` is cleared) while the
    rest of the sandbox WeChat answers."""

    def __init__(self, wsgi_app, *, times: int | None = None) -> None:  # noqa: ANN001
        self.wsgi_app = wsgi_app
        self.down = True
        self.left = times
        self.refused = 0

    def __call__(self, environ, start_response):  # noqa: ANN001, ANN204
        if self.down and self.left != 0 and environ["PATH_INFO"].startswith(CONTACT_WAY_IMAGES):
            self.refused += 1
            if self.left is not None:
                self.left -= 1
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"down"]
        return self.wsgi_app(environ, start_response)


def test_a_new_guide_asks_wechat_for_both_codes_with_its_scene(store):
    ids = add_guide(store)
    scene = code_row(store, ids["mp"]).scene
    assert code_row(store, ids["work"]).scene == scene
    assert store.queue.run_pending() >= 2

    [qrcode] = calls(store, "mp", "qrcode/create", scene)
    assert qrcode["body"]["action_name"] == "QR_LIMIT_STR_SCENE"
    assert qrcode["body"]["action_info"]["scene"]["scene_str"] == scene
    [way] = calls(store, "work", "externalcontact/add_contact_way", scene)
    assert way["body"]["state"] == scene and way["body"]["user"] == ["member-g1"]
    assert way["body"]["type"] == 1 and way["body"]["scene"] == 2  # one member, by QR code

    mp, work = code_row(store, ids["mp"]), code_row(store, ids["work"])
    assert (mp.status, mp.attempts, mp.error) == ("ready", 0, None)
    assert mp.content.startswith(f"{store.config.server.public_base_url}/sandbox/wechat/mp/q/") and mp.ticket
    # The sandbox knows the ticket for this very scene and URL.
    assert world.find_qrcode(store.redis, ticket=mp.ticket)["url"] == mp.content
    assert (work.status, work.attempts, work.error) == ("ready", 0, None)
    assert world.find_contact_way(store.redis, work.config_id)["state"] == scene
    assert work.image.startswith(b"\x89PNG") and Image.open(io.BytesIO(work.image)).format == "PNG"
    assert mp.ready_at is not None and work.ready_at is not None


def test_the_stores_contact_way_goes_to_its_active_guides(store):
    add_guide(store, "G1")
    store.queue.run_pending()
    add_guide(store, "G2")  # the store's contact way exists: not asked for again
    store.queue.run_pending()
    with store.transaction() as db_session:
        store_id = service.get_store(db_session=db_session, code="S1").id
        work = codes_of(db_session=db_session, store_id=store_id)["work"]
        scene, status = work.scene, work.status
    assert status == "ready"
    [way] = calls(store, "work", "externalcontact/add_contact_way", scene)
    assert way["body"]["user"] == ["member-g1"]


@pytest.mark.parametrize("fault", [{"http_status": 500}, {"errcode": -1}], ids=["http-500", "busy"])
def test_a_transient_mp_failure_leaves_the_code_pending_and_a_later_run_makes_it(store, fault):
    ids = add_guide(store)
    scene = code_row(store, ids["mp"]).scene
    # More than the transport's own tries (3) for one run of the job.
    state.add_fault(store.redis, channel="mp", api="qrcode/create", times=3, **fault)

    with pytest.raises(WeChatError):  # raised, so the queue retries the job
        create_code(ids["mp"])

    failed = code_row(store, ids["mp"])
    assert (failed.status, failed.attempts) == ("pending", 1)
    assert failed.error and "qrcode/create" in failed.error and failed.content is None
    assert len(calls(store, "mp", "qrcode/create", scene)) == 3

    store.queue.run_pending()

    made = code_row(store, ids["mp"])
    assert (made.status, made.attempts, made.error) == ("ready", 1, None)
    assert made.content and len(calls(store, "mp", "qrcode/create", scene)) == 4


def test_a_failed_image_fetch_is_retried_without_a_second_contact_way(store, app, monkeypatch):
    ids = add_guide(store)
    scene = code_row(store, ids["work"]).scene
    images = ContactWayImagesDown(app.wsgi_app)
    monkeypatch.setattr(app, "wsgi_app", images)

    with pytest.raises(CodeImageUnavailable):
        create_code(ids["work"])

    half = code_row(store, ids["work"])
    assert (half.status, half.attempts) == ("pending", 1)
    assert half.config_id and half.image_url and half.image is None
    assert "503" in half.error and images.refused == 1
    assert len(calls(store, "work", "externalcontact/add_contact_way", scene)) == 1

    images.down = False
    store.queue.run_pending()

    made = code_row(store, ids["work"])
    assert (made.status, made.attempts, made.error) == ("ready", 1, None)
    assert made.config_id == half.config_id and made.image.startswith(b"\x89PNG")
    assert len(calls(store, "work", "externalcontact/add_contact_way", scene)) == 1


def test_a_failed_image_fetch_is_retried_by_the_queue_itself(store, app, monkeypatch):
    ids = add_guide(store)
    images = ContactWayImagesDown(app.wsgi_app, times=1)
    monkeypatch.setattr(app, "wsgi_app", images)

    store.queue.run_pending()

    made = code_row(store, ids["work"])
    assert (made.status, made.attempts) == ("ready", 1)
    assert images.refused == 1
    assert len(calls(store, "work", "externalcontact/add_contact_way", made.scene)) == 1
    assert store.queue.failed() == []


def test_a_permanent_wecom_refusal_fails_the_code_at_once_and_shows_why(store, client, auth):
    ids = add_guide(store)
    scene = code_row(store, ids["work"]).scene
    state.add_fault(store.redis, channel="work", api="externalcontact/add_contact_way", errcode=60111, times=1)

    store.queue.run_pending()

    failed = code_row(store, ids["work"])
    assert (failed.status, failed.attempts, failed.config_id) == ("failed", 1, None)
    assert "60111" in failed.error
    assert len(calls(store, "work", "externalcontact/add_contact_way", scene)) == 1  # not retried
    assert store.queue.failed() == []  # the job finished: nothing left to retry
    assert code_row(store, ids["mp"]).status == "ready"

    body = client.get("/api/guides/G1", headers=auth("manager")).get_json()
    assert body["codes"]["work"]["status"] == "failed" and "60111" in body["codes"]["work"]["error"]
    assert body["codes"]["work"]["png"] is None and body["codes"]["mp"]["status"] == "ready"
    card = client.get("/api/guides/G1/qrcode.png?channel=work", headers=auth("manager"))
    assert card.status_code == 409 and "60111" in card.get_json()["message"]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)  # each run waits out the transport's backoff
def test_a_code_still_failing_after_the_last_retry_is_failed_and_visible(store, client, auth):
    reconfigure(store, {"queue.max_retries": 1})
    ids = add_guide(store)
    state.add_fault(store.redis, channel="mp", api="qrcode/create", http_status=502, times=100)

    store.queue.run_pending()

    failed = code_row(store, ids["mp"])
    assert (failed.status, failed.attempts) == ("failed", 2)
    assert "HTTP 502" in failed.error
    assert [job.args for job in store.queue.failed()] == [(ids["mp"],)]
    error = client.get("/api/guides/G1", headers=auth("manager")).get_json()["codes"]["mp"]["error"]
    assert "HTTP 502" in error

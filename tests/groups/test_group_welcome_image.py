"""A group welcome's image (入群欢迎语的图片): uploaded from the console to WeCom's
``media/uploadimg`` (the sandbox), whose permanent URL the template keeps as ``image_pic_url``
and WeCom is sent as ``image.pic_url``; a file WeCom would refuse is refused before it is sent
and writes nothing; API callers may still give a ``image_media_id``, one or the other."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from scrm.groups.models import GroupWelcomeTemplate
from scrm.sandbox import state
from scrm.wechat.errors import WeChatError
from web_world import log_in, page_text

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
API = "/api/group-welcome-templates"
PAGES = "/console/group-welcome"
UPLOAD = "/console/group-welcome/image"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def calls(runtime, api: str) -> list[dict]:  # noqa: ANN001
    return [c for c in state.list_calls(runtime.redis, channel="work", api=api) if c["errcode"] == 0]


def templates(runtime) -> list[GroupWelcomeTemplate]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        found = list(db_session.scalars(select(GroupWelcomeTemplate).order_by(GroupWelcomeTemplate.id)))
        db_session.expunge_all()
        return found


def upload(client, data: bytes, name: str = "新人礼.png", **kwargs):  # noqa: ANN001, ANN201
    return client.post(UPLOAD, data={"image": (io.BytesIO(data), name)}, content_type="multipart/form-data", **kwargs)


def welcome_form(**fields: str) -> dict[str, str]:
    return {"name": "", "text": "", "image_media_id": "", "image_pic_url": "", "link_title": "", "link_url": "",
            "link_desc": "", **fields}


def test_an_uploaded_image_goes_to_wecom_and_the_template_sends_its_pic_url(frozen, client, make_token):
    log_in(client, make_token, "manager")
    answer = upload(client, PNG)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    pic_url = answer.get_json()["pic_url"]
    assert answer.get_json()["size"] == len(PNG) and "/sandbox/wechat/work/uploadimg/" in pic_url
    [sent] = calls(frozen, "media/uploadimg")
    assert sent["body"]["media"]["size"] == len(PNG)
    served = client.get(urlsplit(pic_url).path)  # WeCom's URL serves the image (the sandbox's)
    assert served.status_code == 200 and served.data == PNG and served.mimetype == "image/png"

    made = client.post(PAGES, data=welcome_form(name="图片欢迎", text="欢迎 %NICKNAME%", image_pic_url=pic_url,
                                                notify="on"))
    assert made.status_code == 302, page_text(made)
    [add] = calls(frozen, "externalcontact/group_welcome_template/add")
    assert add["body"]["image"] == {"pic_url": pic_url}
    [template] = templates(frozen)
    assert (template.image_pic_url, template.image_media_id) == (pic_url, None)
    assert frozen.work.get_group_welcome_template(template.template_id)["image"] == {"pic_url": pic_url}

    page = page_text(client.get(f"{PAGES}/{template.id}"))  # the form keeps it; the phone shows it
    assert f'name="image_pic_url" value="{pic_url}"' in page and f'alt="图片" src="{pic_url}"' in page
    assert "图片" in page_text(client.get(PAGES))

    removed = client.post(f"{PAGES}/{template.id}", data=welcome_form(name="图片欢迎", text="欢迎 %NICKNAME%"))
    assert removed.status_code == 302
    [edit] = calls(frozen, "externalcontact/group_welcome_template/edit")
    assert "image" not in edit["body"] and templates(frozen)[0].image_pic_url is None


@pytest.mark.parametrize("data, message", [
    (b"GIF89a not for WeCom", "企业微信只收 JPG 或 PNG 图片。"),
    (b"%PDF-1.4", "企业微信只收 JPG 或 PNG 图片。"),
    (b"", "请选择一张图片。"),
    (b"\xff\xd8\xff" + b"\x00" * (2 * 1024 * 1024), "企业微信只收不超过 2 MB 的图片。"),
])
def test_a_file_wecom_would_refuse_is_refused_before_it_is_sent(frozen, client, make_token, data, message):
    log_in(client, make_token, "manager")
    answer = upload(client, data, "a.png")
    assert answer.status_code == 422 and answer.get_json() == {"field": "image", "message": message}
    assert state.list_calls(frozen.redis, channel="work", api="media/uploadimg") == [] and templates(frozen) == []


def test_a_jpg_of_2_mb_is_taken_and_only_managers_with_the_token_upload(frozen, client, make_token):
    log_in(client, make_token, "guide", "G001")
    assert upload(client, PNG).status_code == 403
    log_in(client, make_token, "manager")
    assert upload(client, PNG, csrf=False).status_code == 403  # no CSRF token
    assert calls(frozen, "media/uploadimg") == []
    answer = upload(client, JPG + b"\x00" * (2 * 1024 * 1024 - len(JPG)), "海报.jpg")
    assert answer.status_code == 200 and answer.get_json()["pic_url"].endswith(".jpg")


def test_the_sandbox_plays_uploadimgs_refusals(frozen):
    with pytest.raises(WeChatError) as refused:
        frozen.work.upload_image("a.gif", b"GIF89a", "image/gif")
    assert refused.value.errcode == 40005
    with pytest.raises(WeChatError) as refused:
        frozen.work.upload_image("a.png", PNG + b"\x00" * (2 * 1024 * 1024), "image/png")
    assert refused.value.errcode == 40006
    assert frozen.work.upload_image("a.png", PNG, "image/png").startswith("http")


def test_the_api_takes_an_image_pic_url_or_a_media_id_not_both(frozen, client, manager):
    pic_url = frozen.work.upload_image("a.png", PNG, "image/png")
    made = client.post(API, headers=manager, json={"name": "图", "image_pic_url": pic_url})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["image_pic_url"] == pic_url and made.get_json()["image_media_id"] is None
    [add] = calls(frozen, "externalcontact/group_welcome_template/add")
    assert add["body"] == {"image": {"pic_url": pic_url}, "notify": 1}

    both = client.post(API, headers=manager, json={"name": "两个", "image_pic_url": pic_url, "image_media_id": "m1"})
    assert both.status_code == 422 and both.get_json()["field"] == "image_pic_url"
    not_a_url = client.post(API, headers=manager, json={"name": "坏", "image_pic_url": "ftp://x/a.png"})
    assert not_a_url.status_code == 422 and not_a_url.get_json()["field"] == "image_pic_url"
    assert len(templates(frozen)) == 1

    switched = client.patch(f"{API}/{made.get_json()['id']}", headers=manager, json={"image_media_id": "sbx-img-1"})
    assert switched.status_code == 200, switched.get_json()
    assert (switched.get_json()["image_media_id"], switched.get_json()["image_pic_url"]) == ("sbx-img-1", None)
    [edit] = calls(frozen, "externalcontact/group_welcome_template/edit")
    assert edit["body"]["image"] == {"media_id": "sbx-img-1"}

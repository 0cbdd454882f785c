"""Every call, the token calls included, goes to the configured base URL: pointed at a closed
port, the adapters try that port (a bounded number of times) and no other host."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from scrm.wechat.errors import WeChatUnavailable
from scrm.wechat.mp import MPClient
from scrm.wechat.work import WorkClient


@pytest.fixture(scope="module")
def closed_port():  # noqa: ANN201
    """A port bound but never listening: connections to it are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def config_overrides(closed_port: int) -> dict[str, Any]:
    return {
        "wechat.mp.api_base_url": f"http://127.0.0.1:{closed_port}/mp/cgi-bin/",
        "wechat.work.api_base_url": f"http://127.0.0.1:{closed_port}/work/cgi-bin/",
    }


class RecordingAdapter(HTTPAdapter):
    """requests' own adapter, noting each URL it is asked to reach."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def send(self, request, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
        self.urls.append(request.url)
        return super().send(request, *args, **kwargs)


def _session() -> tuple[requests.Session, RecordingAdapter]:
    adapter = RecordingAdapter()
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session, adapter


@pytest.mark.parametrize(
    ("make", "call", "token_api"),
    [
        (MPClient.from_runtime, lambda c: c.create_qrcode("guide:1"), "token"),
        (WorkClient.from_runtime, lambda c: c.add_contact_way("guide:1", ["zhangsan"]), "gettoken"),
    ],
    ids=["mp", "work"],
)
def test_a_closed_base_url_is_the_only_host_tried(  # noqa: ANN001
    runtime, closed_port, make, call, token_api
) -> None:
    session, adapter = _session()
    sleeps: list[float] = []
    client = make(runtime, sleep=sleeps.append, http=session)

    with pytest.raises(WeChatUnavailable) as raised:
        call(client)

    assert raised.value.api == token_api
    assert len(adapter.urls) == 3  # bounded: three tries of the token call, nothing else
    assert all(url.startswith(f"http://127.0.0.1:{closed_port}/") for url in adapter.urls)
    assert all(f"/cgi-bin/{token_api}?" in url for url in adapter.urls)
    assert len(sleeps) == 2
    assert raised.value.__context__ is None and raised.value.__cause__ is None


def test_the_qrcode_image_is_shown_from_the_configured_base(runtime, closed_port) -> None:  # noqa: ANN001
    url = MPClient.from_runtime(runtime).qrcode_image_url("gQH47joAAAAAAAAAASxod/HR+w==")

    assert url == f"http://127.0.0.1:{closed_port}/mp/cgi-bin/showqrcode?ticket=gQH47joAAAAAAAAAASxod%2FHR%2Bw%3D%3D"


def test_nothing_is_sent_when_a_client_is_made(runtime) -> None:  # noqa: ANN001
    session, adapter = _session()

    MPClient.from_runtime(runtime, http=session)
    WorkClient.from_runtime(runtime, http=session)

    assert adapter.urls == []

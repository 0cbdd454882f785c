"""Passive replies as WeChat wants them: XML with CDATA text (``]]>`` split safely)."""

from __future__ import annotations

from typing import Any


def cdata(text: str) -> str:
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_reply(reply: dict[str, Any], *, to_user: str, from_user: str, create_time: int) -> str:
    head = (
        f"<ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
    )
    if reply["kind"] == "news":
        items = "".join(
            "<item>"
            f"<Title>{cdata(a['title'])}</Title><Description>{cdata(a.get('description', ''))}</Description>"
            f"<PicUrl>{cdata(a.get('picurl', ''))}</PicUrl><Url>{cdata(a['url'])}</Url>"
            "</item>"
            for a in reply["articles"]
        )
        body = f"<MsgType>{cdata('news')}</MsgType><ArticleCount>{len(reply['articles'])}</ArticleCount><Articles>{items}</Articles>"
    else:
        body = f"<MsgType>{cdata('text')}</MsgType><Content>{cdata(reply['text'])}</Content>"
    return f"<xml>{head}{body}</xml>"

"""Customer groups for tests: our WeCom customers, and change_external_chat callbacks as WeCom
writes them (sample: work_change_external_chat_*.xml)."""

from __future__ import annotations

from scrm.customers.models import Customer, CustomerIdentity


def work_customer(runtime, external_userid: str, nickname: str | None = None) -> int:  # noqa: ANN001
    """One of our customers, known by their WeCom identity; returns the customer's id."""
    with runtime.transaction() as db_session:
        customer = Customer(nickname=nickname or external_userid)
        db_session.add(customer)
        db_session.flush()
        db_session.add(CustomerIdentity(customer_id=customer.id, channel="work", external_id=external_userid,
                                        following=True))
        return customer.id


def chat_xml(runtime, chat_id: str, change_type: str, *, detail: str | None = None,  # noqa: ANN001
             members: tuple[str, ...] = ()) -> str:
    """A change_external_chat callback as WeCom sends it (sample: work_change_external_chat_*.xml)."""
    fields = {"ToUserName": runtime.config.wechat.work.corp_id, "FromUserName": "sys",
              "CreateTime": int(runtime.clock.now().timestamp()), "MsgType": "event",
              "Event": "change_external_chat", "ChatId": chat_id, "ChangeType": change_type}
    if detail:
        fields |= {"UpdateDetail": detail, "JoinScene": 1 if detail == "add_member" else 0,
                   "QuitScene": 0 if detail == "add_member" else 1, "MemChangeCnt": len(members)}
    body = "".join(f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}><![CDATA[{v}]]></{k}>"
                   for k, v in fields.items())
    if members:
        body += "<MemChangeList>" + "".join(f"<Item><![CDATA[{m}]]></Item>" for m in members) + "</MemChangeList>"
    return f"<xml>{body}</xml>"

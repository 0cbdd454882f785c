"""Customer groups for tests: our WeCom customers, and change_external_chat callbacks as WeCom
writes them (sample: work_change_external_chat_*.xml), and a customer joining through a live
code's join way."""

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
             members: tuple[str, ...] = (), join_scene: int = 1) -> str:
    """A change_external_chat callback as WeCom sends it (sample: work_change_external_chat_*.xml);
    ``join_scene`` 3: joined through a join way (a live code)."""
    fields = {"ToUserName": runtime.config.wechat.work.corp_id, "FromUserName": "sys",
              "CreateTime": int(runtime.clock.now().timestamp()), "MsgType": "event",
              "Event": "change_external_chat", "ChatId": chat_id, "ChangeType": change_type}
    if detail:
        fields |= {"UpdateDetail": detail, "JoinScene": join_scene if detail == "add_member" else 0,
                   "QuitScene": 0 if detail == "add_member" else 1, "MemChangeCnt": len(members)}
    body = "".join(f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}><![CDATA[{v}]]></{k}>"
                   for k, v in fields.items())
    if members:
        body += "<MemChangeList>" + "".join(f"<Item><![CDATA[{m}]]></Item>" for m in members) + "</MemChangeList>"
    return f"<xml>{body}</xml>"


def scan_and_join(runtime, client, config_id: str, external_userid: str, *, times: int = 1) -> str:  # noqa: ANN001
    """A customer scans the way's code: WeCom puts them in the first group on the way (ours
    only lists groups with room), with the way's state and join_scene 3, and calls back
    (``times`` deliveries of the same callback). Returns the group joined."""
    from guide_world import send
    from scrm.sandbox import world
    from scrm.sandbox.world_docs import _change_group

    way = world.get_join_way(runtime.redis, config_id)
    chat_id = way["chat_id_list"][0]
    at = int(runtime.clock.now().timestamp())

    def join(chat: dict) -> None:
        chat["member_list"].append({"userid": external_userid, "type": 2, "join_time": at, "join_scene": 3,
                                    "state": way["state"], "invitor": {"userid": chat["owner"]}})

    _change_group(runtime.redis, chat_id, join)
    xml = chat_xml(runtime, chat_id, "update", detail="add_member", members=(external_userid,), join_scene=3)
    for _ in range(times):
        send(runtime, client, "work", xml)
    runtime.queue.run_pending()
    return chat_id

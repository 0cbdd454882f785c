"""Customer jobs: take ids, own their session, call WeChat outside any request."""

from __future__ import annotations

import logging

from scrm import flows
from scrm.customers.models import CustomerIdentity
from scrm.runtime import Runtime, job
from scrm.wechat.errors import WeChatError

log = logging.getLogger(__name__)

# WeChat does not know this customer (any more): asking again will not change that.
UNKNOWN_CUSTOMER_ERRCODES = {40003, 40096, 61014}


@job
def fetch_profile(runtime: Runtime, identity_id: int) -> None:
    """Ask WeChat who a customer is: ``user/info`` (MP) or ``externalcontact/get`` (WeCom).
    A ``unionid`` shared with another customer merges the two."""
    with runtime.transaction() as db_session:
        identity = db_session.get(CustomerIdentity, identity_id)
        if identity is None:
            return
        channel, external_id = identity.channel, identity.external_id
    # Outside any transaction: no database lock is held during a slow WeChat call.
    try:
        if channel == "mp":
            follower = runtime.mp.user_info(external_id)
            if not follower.subscribed:
                return  # WeChat tells nothing but the openid of someone who has unfollowed
            unionid, nickname = follower.unionid, follower.nickname
        else:
            contact = runtime.work.external_contact(external_id)
            unionid, nickname = contact.unionid, contact.name
    except WeChatError as exc:
        if exc.errcode not in UNKNOWN_CUSTOMER_ERRCODES:
            raise  # retried by the queue
        log.info("no profile for identity %s: WeChat answered %s", identity_id, exc.errcode)
        return
    with runtime.transaction() as db_session:
        flows.attach_profile(runtime=runtime, db_session=db_session, identity_id=identity_id, unionid=unionid,
                             nickname=nickname or None)

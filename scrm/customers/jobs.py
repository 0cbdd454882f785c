"""Customer jobs: take ids, own their session, call WeChat outside any request."""

from __future__ import annotations

from scrm.customers import service
from scrm.customers.models import CustomerIdentity
from scrm.runtime import current


def fetch_mp_profile(identity_id: int) -> None:
    """Ask WeChat who an MP follower is (``user/info``); a ``unionid`` shared with another
    customer merges the two."""
    runtime = current()
    with runtime.transaction() as db_session:
        identity = db_session.get(CustomerIdentity, identity_id)
        if identity is None or identity.channel != "mp":
            return
        openid = identity.external_id
    follower = runtime.mp.user_info(openid)  # outside the transaction: no lock held on a slow call
    if not follower.subscribed:
        return  # WeChat tells nothing but the openid of someone who has unfollowed
    with runtime.transaction() as db_session:
        service.attach_profile(
            db_session=db_session, identity_id=identity_id, unionid=follower.unionid, nickname=follower.nickname or None
        )

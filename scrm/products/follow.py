"""Following the account to claim a product code (关注领取, SPEC §14).

A customer who opens /p/<code> without following the account is shown the account's QR code:
a temporary MP code whose scene is ``pc_<code>`` (:func:`follow_scene`). Following by it (a
``subscribe`` with ``qrscene_pc_<code>``), or scanning it while following (``SCAN``), reaches
the webhook, which claims the code for them (handlers/reactions.py through
``scrm.flows.claim_product_code``, ``via="follow"``) and answers with :func:`claim_reply`.

One follow code per product code, made on the first page that needs it and kept in Redis
(:func:`follow_qr`) until shortly before WeChat lets it expire (``products.follow_qr_days``),
so a customer who reloads the page, or comes back a day later, sees the same code and WeChat
is asked once. Nothing here commits; :func:`follow_qr` calls WeChat, so it runs outside any
transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scrm.coupons.links import coupons_link
from scrm.coupons.models import Coupon, CouponTemplate
from scrm.coupons.schemas import value_text
from scrm.members.links import member_link
from scrm.products.codes import CODE_CHARS
from scrm.replies.service import Reply
from scrm.texts import local_time, say

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scrm.products.batches import BatchRef
    from scrm.products.claiming import Claimed
    from scrm.runtime import Runtime

SCENE_PREFIX = "pc_"  # product code: 3 + 21 characters, inside WeChat's 64
_QR_KEY = "products:follow-qr:"
# A cached code is dropped this long before WeChat expires it: a page drawn from the cache
# shows a code that still works while the customer long-presses it.
_QR_MARGIN_SECONDS = 6 * 3600


@dataclass(frozen=True)
class FollowQR:
    """The follow code of one product code: what it encodes (``url``) and when WeChat drops it."""

    url: str
    expires_at: int  # epoch seconds


def follow_scene(code: str) -> str:
    return SCENE_PREFIX + code


def code_in_scene(scene: str | None) -> str | None:
    """The product code a follow code's scene carries; None for any other scene (a guide's, a
    store's, a live code's). The code itself is checked afterwards, like one typed in."""
    if not scene or not scene.startswith(SCENE_PREFIX):
        return None
    code = scene[len(SCENE_PREFIX):]
    return code if len(code) == CODE_CHARS else None


def follow_qr(runtime: Runtime, code: str) -> FollowQR:
    """The code's follow QR, from Redis, else made now by WeChat (``qrcode/create``,
    ``QR_STR_SCENE``) and kept. Two pages that make one at the same moment keep the first."""
    key = _QR_KEY + code
    now = int(runtime.clock.timestamp())
    cached = _read(runtime.redis.get(key))
    if cached is not None and cached.expires_at - _QR_MARGIN_SECONDS > now:
        return cached
    seconds = runtime.config.products.follow_qr_days * 86400
    made = runtime.mp.create_qrcode(follow_scene(code), permanent=False, expire_seconds=seconds)
    fresh = FollowQR(made.url, now + (made.expire_seconds or seconds))
    keep = max(fresh.expires_at - _QR_MARGIN_SECONDS - now, 60)
    value = json.dumps({"url": fresh.url, "expires_at": fresh.expires_at})
    if cached is None and not runtime.redis.set(key, value, ex=keep, nx=True):
        return _read(runtime.redis.get(key)) or fresh
    runtime.redis.set(key, value, ex=keep)
    return fresh


def _read(raw: bytes | str | None) -> FollowQR | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return FollowQR(str(data["url"]), int(data["expires_at"]))
    except (ValueError, KeyError, TypeError):
        return None


# ---- what the follow is answered with -------------------------------------------------------


def claim_reply(runtime: Runtime, db_session: Session, *, batch: BatchRef, claimed: Claimed) -> Reply:
    """The passive reply to the follow that claimed (or could not claim) a code: what happened,
    in words, with the link to what the customer got (their coupons, their member page)."""
    config = runtime.config
    claim = claimed.claim
    product = batch.product
    if claimed.result in ("claimed", "already_yours") and claim is not None:
        if claim.coupon_id is not None:
            coupon = db_session.get(Coupon, claim.coupon_id)
            template = db_session.get(CouponTemplate, coupon.template_id) if coupon is not None else None
            reward = template.name if template is not None else ""
            link = coupons_link(runtime, claim.customer_id)
            key = "claimed_coupon" if claimed.result == "claimed" else "yours_coupon"
            words = say(config, f"product.reply.{key}", product=product, reward=reward)
        else:
            link = member_link(runtime, claim.customer_id)
            pending = "_pending" if claim.points_pending else ""
            key = ("claimed_points" if claimed.result == "claimed" else "yours_points") + pending
            words = say(config, f"product.reply.{key}", product=product, points=claim.points or 0)
        if claimed.result == "already_yours":
            words = say(config, "product.reply.yours_when", at=local_time(claim.claimed_at, config.brand.zone)) + words
        return Reply("text", text=f'{words}\n<a href="{link}">{say(config, "product.reply.open")}</a>')
    if claimed.result == "claimed_by_other" and claim is not None:
        return Reply("text", text=say(config, "product.reply.claimed_by_other", product=product,
                                      at=local_time(claim.claimed_at, config.brand.zone)))
    if claimed.result == "daily_limit":
        return Reply("text", text=say(config, "product.reply.daily_limit", n=config.products.daily_claims))
    return Reply("text", text=say(config, "product.reply.reward_unavailable", product=product))


def refusal_reply(runtime: Runtime, refused: str) -> Reply:
    """The reply to a follow by the code of a product code that is not genuine, or expired."""
    return Reply("text", text=say(runtime.config, f"product.reply.{refused}"))


def reward_words(runtime: Runtime, db_session: Session, batch: BatchRef) -> str:
    """The batch's reward as the customer reads it: "50 积分", or the coupon's name and value."""
    config = runtime.config
    if batch.reward_points is not None:
        return say(config, "product.reward.points", points=batch.reward_points)
    template = db_session.get(CouponTemplate, batch.reward_template_id)
    if template is None:
        return ""
    return say(config, "product.reward.coupon", name=template.name, value=value_text(template, config.brand.locale))

"""What customers and guides read, in the brand's language (``brand.locale``: zh_CN or en).

Every text the product composes for a customer (the coupon pages, the guide's public card, the
"my coupons" reply and the announcements) lives in :data:`TEXTS`, one entry per key and locale,
and is read through :func:`say`. The names of timeline kinds (``follow``, ``coupon_issued``, …)
live in :data:`KIND_WORDS`; :func:`kind_words` names any kind, a new one in a readable form.
Kept as plain tables so a move to Flask-Babel catalogues is mechanical: a key becomes a msgid.

No imports from the domains: any layer may read its words here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

LOCALES = ("zh_CN", "en")
DEFAULT = "zh_CN"
TIME_FORMAT = "%Y-%m-%d %H:%M"  # one format for every time shown, always in brand.timezone

TEXTS: dict[str, dict[str, str]] = {
    "zh_CN": {
        "html.lang": "zh-CN",
        # The "my coupons" reply (menu click, keyword) and the coupon pages (/c/…).
        "coupons.title": "我的优惠券",
        "coupons.news_description": "点开查看券码，到店出示二维码即可使用",
        "coupons.campaign_line": "🎁 优惠券已放入“我的优惠券”：{link}",
        "coupons.announcement": "您获得一张优惠券：{name}，有效期至 {until}。到店出示券码即可使用：{link}",
        "coupons.empty": "还没有优惠券",
        "coupons.empty_hint": "导购或活动发的券会出现在这里",
        "coupons.show_in_store": "到店出示二维码，导购扫码核销",
        "coupons.ended": "已使用 / 已过期",
        "coupons.all": "全部优惠券",
        "coupons.enlarge": "放大",
        "coupons.qr_alt": "券码二维码 {code}",
        "coupons.code": "券码",
        "coupons.stores": "适用门店：",
        "coupons.all_stores": "全部门店",
        "coupons.state.usable": "可使用",
        "coupons.state.later": "未生效",
        "coupons.state.redeemed": "已使用",
        "coupons.state.expired": "已过期",
        "coupons.state.voided": "已作废",
        "coupons.used_at": "{at} 已使用",
        "coupons.usable_from": "{start} 起可用 · 有效期至 {until}",
        "coupons.valid_until": "有效期至 {until}",
        "coupons.value.cash": "¥{amount} 代金券",
        "coupons.value.cash_over": "满{spend}减¥{amount}",
        "coupons.value.discount": "{discount}折",
        "coupons.value.discount_over": "满{spend}{discount}折",
        "coupons.value.gift": "赠 {gift}",
        # The "member centre" reply (menu click, keyword; scrm/members/links.py).
        "members.title": "会员中心",
        "members.news_description": "点开查看会员卡、积分、签到和积分商城",
        # Why a member cannot exchange an item of the points mall now (scrm/members/mall.py).
        "mall.why_not.item_paused": "暂停兑换",
        "mall.why_not.out_of_stock": "已兑完",
        "mall.why_not.limit_reached": "已达兑换上限",
        "mall.why_not.level_required": "{level}及以上可兑",
        "mall.why_not.not_enough_points": "积分不足",
        "mall.why_not.template_unavailable": "暂不可兑",
        "page.not_found": "找不到",
        "page.no_such_coupon": "这里没有这张券",
        "page.nothing_here": "没有这个页面",
        "page.cannot_open": "打不开",
        "link.refused": "链接无效",
        "link.invalid": "这个链接无效",
        "link.too_old": "这个链接已过期，请在公众号里再发一次“优惠券”",
        "link.open_from_account": "请在公众号里发送“优惠券”，点开收到的链接",
        "link.open_here": "请从公众号打开",
        "oauth.off": "请点开公众号发来的链接",
        "oauth.not_here": "这次登录不是在这台手机上开始的，请重新打开",
        "oauth.not_signed_in": "微信没有确认你的身份",
        # The guide's public card (/card/<code>), opened by customers.
        "card.role": "导购",
        "card.scan": "长按识别二维码，关注后找我",
        "card.qr_alt": "{name} 的二维码",
        "card.code_pending": "二维码生成中",
        # Printed code cards and posters.
        "qr.caption.mp": "微信扫码关注",
        "qr.caption.work": "企业微信扫码添加",
        "qr.store_code": "门店码",
        "qr.channel.mp": "公众号",
        "qr.channel.work": "企业微信",
        "customer.unnamed": "顾客 #{id}",
        "kind.unknown": "其他动态（{words}）",
        # A product code claimed (扫码领取), as a timeline entry's detail (guides/phone_views.py).
        "claim.points": "{product} · {points} 积分",
        "claim.points_pending": "{product} · {points} 积分（入会后到账）",
        "claim.coupon": "{product} · 优惠券 {coupon}",
        # Churn alerts (流失提醒) sent to the guide by WeCom app message (scrm/groups/churn.py).
        "churn.title": "【客户流失提醒】",
        "churn.deleted_guide": "顾客「{name}」删除了您",
        "churn.quit_group": "顾客「{name}」退出了群「{group}」",
        "churn.tags": "标签：{tags}",
        "churn.no_tags": "无",
        "churn.last": "最近互动：{what} {when}",
        "churn.never": "最近互动：无",
        "churn.more": "另有 {n} 条，请在导购工作台首页查看",
        # The product-code claim page (/p/<code>) and the replies to a follow that claims (scrm/products).
        "product.title": "扫码领奖",
        "product.sku": "货号 {sku}",
        "product.reward": "奖励",
        "product.reward.points": "{points} 积分",
        "product.reward.coupon": "{name}（{value}）",
        "product.claim_button": "领取",
        "product.claim_hint": "每个码只能领取一次，每人每天最多领取 {n} 次",
        "product.just_claimed": "领取成功",
        "product.yours.title": "已领取",
        "product.yours.when": "你已于 {at} 领取",
        "product.yours.coupon": "优惠券已放入“我的优惠券”，到店出示二维码即可使用",
        "product.yours.see_coupon": "查看优惠券",
        "product.yours.points": "{points} 积分已到账",
        "product.yours.see_member": "查看会员中心",
        "product.yours.pending": "{points} 积分已为你保留，加入会员后到账",
        "product.yours.join": "加入会员",
        "product.other.title": "此码已被领取",
        "product.other.warning": "此码已于 {at} 被领取，商品可能已被使用或为仿冒品",
        "product.other.hint": "如对商品有疑问，请联系购买门店或品牌客服",
        "product.not_genuine.title": "不是正品码",
        "product.not_genuine.message": "无法验证这个码：它不是本品牌印制的正品码",
        "product.not_genuine.hint": "请确认扫描的是商品包装上的二维码；如有疑问，请联系购买门店",
        "product.expired.title": "活动已结束",
        "product.expired.message": "这批商品的扫码领奖已于 {until} 结束",
        "product.daily_limit.title": "今天领够了",
        "product.daily_limit.message": "今天已领取 {n} 次，请明天再来",
        "product.daily_limit.hint": "这个码还没有被领取，明天再扫一次即可",
        "product.unavailable.title": "奖品已领完",
        "product.unavailable.message": "奖品已领完，这个码还没有被领取",
        "product.unavailable.hint": "补货后可以再来领取",
        "product.follow.title": "关注后领取",
        "product.follow.scan": "长按识别二维码关注公众号，关注后自动领取",
        "product.follow.qr_alt": "公众号二维码",
        "product.follow.qr_failed": "二维码暂时没有生成，请稍后刷新",
        "product.follow.following": "已经关注了？同样长按识别，领取结果会发到公众号对话里",
        "product.reply.claimed_coupon": "🎁 领取成功！{product} 的奖励「{reward}」已放入“我的优惠券”，到店出示即可使用。",
        "product.reply.yours_coupon": "{product} 的奖励「{reward}」在“我的优惠券”里。",
        "product.reply.claimed_points": "🎁 领取成功！{product} 的 {points} 积分已到账。",
        "product.reply.claimed_points_pending": "🎁 领取成功！{product} 的 {points} 积分已为你保留，加入会员后到账。",
        "product.reply.yours_points": "{product} 的 {points} 积分已到账。",
        "product.reply.yours_points_pending": "{product} 的 {points} 积分已为你保留，加入会员后到账。",
        "product.reply.yours_when": "你已于 {at} 领取过这个码。",
        "product.reply.open": "点此查看",
        "product.reply.claimed_by_other": "这个码已于 {at} 被领取，{product} 可能已被使用或为仿冒品。如有疑问，请联系购买门店。",
        "product.reply.daily_limit": "今天已领取 {n} 次，请明天再扫码领取。",
        "product.reply.reward_unavailable": "{product} 的奖品已领完，这个码还没有被领取。",
        "product.reply.not_genuine": "这个码不是正品码，无法验证。",
        "product.reply.expired": "这批商品的扫码领奖已结束。",
    },
    "en": {
        "html.lang": "en",
        "coupons.title": "My coupons",
        "coupons.news_description": "Open to see your coupons; show the QR code in store.",
        "coupons.campaign_line": "🎁 Your coupon is in My coupons: {link}",
        "coupons.announcement": "You have a coupon: {name}, valid until {until}. "
                                "Show its code in store to use it: {link}",
        "coupons.empty": "No coupons yet.",
        "coupons.empty_hint": "Coupons from your guide or a campaign appear here.",
        "coupons.show_in_store": "Show the QR code in store; the guide scans it to redeem.",
        "coupons.ended": "Used and expired",
        "coupons.all": "All coupons",
        "coupons.enlarge": "Enlarge",
        "coupons.qr_alt": "QR code of {code}",
        "coupons.code": "Code",
        "coupons.stores": "Stores:",
        "coupons.all_stores": "all stores",
        "coupons.state.usable": "Ready to use",
        "coupons.state.later": "Not valid yet",
        "coupons.state.redeemed": "Used",
        "coupons.state.expired": "Expired",
        "coupons.state.voided": "Voided",
        "coupons.used_at": "Used {at}",
        "coupons.usable_from": "Usable from {start} · valid until {until}",
        "coupons.valid_until": "Valid until {until}",
        "coupons.value.cash": "¥{amount} voucher",
        "coupons.value.cash_over": "¥{amount} off over ¥{spend}",
        "coupons.value.discount": "{percent}% off",
        "coupons.value.discount_over": "{percent}% off over ¥{spend}",
        "coupons.value.gift": "Gift: {gift}",
        "members.title": "Member centre",
        "members.news_description": "Open to see your member card, points, check-in and the points mall.",
        "mall.why_not.item_paused": "Paused",
        "mall.why_not.out_of_stock": "All gone",
        "mall.why_not.limit_reached": "Exchange limit reached",
        "mall.why_not.level_required": "{level} and above",
        "mall.why_not.not_enough_points": "Not enough points",
        "mall.why_not.template_unavailable": "Not available now",
        "page.not_found": "Not found",
        "page.no_such_coupon": "There is no such coupon here.",
        "page.nothing_here": "There is nothing here.",
        "page.cannot_open": "Cannot open",
        "link.refused": "Link refused",
        "link.invalid": "This link is not valid.",
        "link.too_old": "This link has expired; ask the Official Account for your coupons again.",
        "link.open_from_account": "Ask the Official Account for your coupons and open the link it sends.",
        "link.open_here": "Open this page from the Official Account.",
        "oauth.off": "Open the link the Official Account sends.",
        "oauth.not_here": "This sign-in was not started on this phone; open the page again.",
        "oauth.not_signed_in": "WeChat did not sign you in.",
        "card.role": "Shopping guide",
        "card.scan": "Long-press the code to follow, then find me",
        "card.qr_alt": "QR code of {name}",
        "card.code_pending": "The code is being created",
        "qr.caption.mp": "Scan in WeChat to follow",
        "qr.caption.work": "Scan in WeCom to add",
        "qr.store_code": "Store code",
        "qr.channel.mp": "Official Account",
        "qr.channel.work": "WeCom",
        "customer.unnamed": "Customer #{id}",
        "kind.unknown": "Other ({words})",
        "claim.points": "{product} · {points} points",
        "claim.points_pending": "{product} · {points} points (when they join)",
        "claim.coupon": "{product} · coupon {coupon}",
        "churn.title": "[Customer churn alert] ",
        "churn.deleted_guide": "Customer \u201c{name}\u201d deleted you",
        "churn.quit_group": "Customer \u201c{name}\u201d left the group \u201c{group}\u201d",
        "churn.tags": "Tags: {tags}",
        "churn.no_tags": "none",
        "churn.last": "Last interaction: {what} {when}",
        "churn.never": "Last interaction: none",
        "churn.more": "{n} more: see your home page in the guide app",
        "product.title": "Scan to claim",
        "product.sku": "Item {sku}",
        "product.reward": "Reward",
        "product.reward.points": "{points} points",
        "product.reward.coupon": "{name} ({value})",
        "product.claim_button": "Claim",
        "product.claim_hint": "Each code can be claimed once; at most {n} claims a person a day.",
        "product.just_claimed": "Claimed",
        "product.yours.title": "Already yours",
        "product.yours.when": "You claimed it on {at}.",
        "product.yours.coupon": "The coupon is in My coupons: show its QR code in store to use it.",
        "product.yours.see_coupon": "See the coupon",
        "product.yours.points": "{points} points are in your account.",
        "product.yours.see_member": "Open the member centre",
        "product.yours.pending": "{points} points are kept for you: they arrive when you join.",
        "product.yours.join": "Join now",
        "product.other.title": "Already claimed",
        "product.other.warning": "This code was claimed on {at}: the product may have been used, or may be counterfeit.",
        "product.other.hint": "If in doubt, ask the store you bought it from or the brand's customer service.",
        "product.not_genuine.title": "Not a genuine code",
        "product.not_genuine.message": "This code cannot be verified: it is not one the brand printed.",
        "product.not_genuine.hint": "Make sure you scanned the code on the package; if in doubt, ask the store.",
        "product.expired.title": "This offer has ended",
        "product.expired.message": "Claims for this batch ended on {until}.",
        "product.daily_limit.title": "Enough for today",
        "product.daily_limit.message": "You have claimed {n} times today; come back tomorrow.",
        "product.daily_limit.hint": "The code is still unclaimed: scan it again tomorrow.",
        "product.unavailable.title": "Rewards all gone",
        "product.unavailable.message": "The rewards are all gone; the code is still unclaimed.",
        "product.unavailable.hint": "Come back when they are restocked.",
        "product.follow.title": "Follow to claim",
        "product.follow.scan": "Long-press the code to follow the account: the reward is claimed as you follow.",
        "product.follow.qr_alt": "The account's QR code",
        "product.follow.qr_failed": "The code could not be made just now; reload in a minute.",
        "product.follow.following": "Following already? Long-press the code too: the result arrives in the chat.",
        "product.reply.claimed_coupon": "🎁 Claimed! The reward of {product}, {reward}, is in My coupons: "
                                        "show it in store to use it.",
        "product.reply.yours_coupon": "The reward of {product}, {reward}, is in My coupons.",
        "product.reply.claimed_points": "🎁 Claimed! {points} points for {product} are in your account.",
        "product.reply.claimed_points_pending": "🎁 Claimed! {points} points for {product} are kept for you: "
                                                "they arrive when you join.",
        "product.reply.yours_points": "{points} points for {product} are in your account.",
        "product.reply.yours_points_pending": "{points} points for {product} are kept for you: they arrive when you join.",
        "product.reply.yours_when": "You claimed this code on {at}. ",
        "product.reply.open": "Open",
        "product.reply.claimed_by_other": "This code was claimed on {at}: {product} may have been used, or may be "
                                          "counterfeit. If in doubt, ask the store you bought it from.",
        "product.reply.daily_limit": "You have claimed {n} times today; scan the code again tomorrow.",
        "product.reply.reward_unavailable": "The rewards of {product} are all gone; the code is still unclaimed.",
        "product.reply.not_genuine": "This is not a genuine product code; it cannot be verified.",
        "product.reply.expired": "Claims for this batch have ended.",
    },
}

# Every kind of timeline entry (Interaction.kind) the code writes, in words. A test walks the
# code for the kinds it can write and fails on one missing here.
KIND_WORDS: dict[str, dict[str, str]] = {
    "zh_CN": {
        "follow": "关注", "unfollow": "取消关注", "scan": "扫码", "click": "点菜单", "view": "打开菜单链接",
        "text": "发消息", "media": "图片/语音", "location": "发位置", "link": "发链接",
        "unknown_message": "其他消息", "unknown_event": "其他事件", "event": "事件",
        "send_finished": "群发送达", "contact_change": "企业微信联系人变化",
        "add_external_contact": "加企业微信", "add_half_external_contact": "加企业微信（待通过）",
        "edit_external_contact": "修改企业微信备注", "del_external_contact": "被导购删除",
        "del_follow_user": "删除导购好友", "transfer_fail": "转接失败",
        "guide_bound": "绑定导购", "guide_unrouted": "没有可分配的导购", "guide_binding_refused": "未改绑导购",
        "welcome_sent": "欢迎语已发", "welcome_skipped": "欢迎语未发", "welcome_failed": "欢迎语发送失败",
        "welcome_expired": "欢迎语已过期",
        "purchase": "购买", "order": "购买", "refund": "退款", "link_open": "打开文章",
        "tag_added": "加标签", "tag_removed": "去标签",
        "coupon_issued": "获得优惠券", "coupon_not_issued": "优惠券未发出", "coupon_redeemed": "核销优惠券",
        "coupon_voided": "优惠券作废", "coupon_unredeemed": "撤销核销", "redeemed": "核销优惠券",
        "custom_event": "自定义事件", "message": "消息", "unknown": "其他动态", "chat_change": "客户群变化",
        "tag_change": "企业标签变化", "product_claimed": "扫码领取",
    },
    "en": {
        "follow": "Followed", "unfollow": "Unfollowed", "scan": "Scanned a code", "click": "Menu tap",
        "view": "Opened a menu link", "text": "Message", "media": "Picture or voice", "location": "Location",
        "link": "Shared a link", "unknown_message": "Other message", "unknown_event": "Other event", "event": "Event",
        "send_finished": "Broadcast delivered", "contact_change": "WeCom contact changed",
        "add_external_contact": "Added on WeCom", "add_half_external_contact": "Added on WeCom (pending)",
        "edit_external_contact": "WeCom note edited", "del_external_contact": "Removed by the guide",
        "del_follow_user": "Removed the guide on WeCom", "transfer_fail": "Transfer failed",
        "guide_bound": "Bound to a guide", "guide_unrouted": "No guide to assign",
        "guide_binding_refused": "Guide kept", "welcome_sent": "Welcome sent", "welcome_skipped": "Welcome skipped",
        "welcome_failed": "Welcome failed", "welcome_expired": "Welcome expired",
        "purchase": "Purchase", "order": "Purchase", "refund": "Refund", "link_open": "Opened an article",
        "tag_added": "Tag added", "tag_removed": "Tag removed",
        "coupon_issued": "Coupon received", "coupon_not_issued": "Coupon not issued",
        "coupon_redeemed": "Coupon redeemed", "coupon_voided": "Coupon voided",
        "coupon_unredeemed": "Redemption taken back", "redeemed": "Coupon redeemed", "custom_event": "Custom event",
        "message": "Message", "unknown": "Other", "chat_change": "Customer group changed",
        "tag_change": "WeCom tags changed", "product_claimed": "Claimed a product code",
    },
}


def locale_of(config: Any) -> str:
    """The brand's locale from a Config, a BrandConfig or a locale string; zh_CN when unknown."""
    brand = getattr(config, "brand", config)
    locale = getattr(brand, "locale", brand)
    return locale if locale in TEXTS else DEFAULT


def say(config: Any, key: str, **values: Any) -> str:
    """The text ``key`` in the brand's language, with ``values`` put in (``str.format``)."""
    return TEXTS[locale_of(config)][key].format(**values)


def kind_words(config: Any, kind: str) -> str:
    """A timeline kind by its human name; an unknown one readable, never the raw key."""
    locale = locale_of(config)
    words = KIND_WORDS[locale].get(kind)
    if words is not None:
        return words
    return TEXTS[locale]["kind.unknown"].format(words=kind.replace("_", " ").strip() or "?")


def customer_name(config: Any, customer_id: int, nickname: str | None) -> str:
    """The customer's nickname, or 顾客 #12 when WeChat has not told us one."""
    return nickname.strip() if nickname and nickname.strip() else say(config, "customer.unnamed", id=customer_id)


def local_time(at: datetime, zone: ZoneInfo) -> str:
    """A moment as every page shows one: in the brand's zone, ``2026-03-01 14:05``."""
    moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # stored naive = UTC (SQLite)
    return moment.astimezone(zone).strftime(TIME_FORMAT)

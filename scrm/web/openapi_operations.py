"""What /api/openapi.json says about each operation beyond its path and method (SPEC §11): its
query parameters, its request body and its answers, keyed by the view's endpoint.

Models are named ``"module:Model"`` and imported when the description is built
(scrm/web/openapi.py): the JSON Schemas of the pydantic models the routes validate with, and
of the response models declared beside each domain's serializers (``*Out`` in its schemas.py).
Query parameters say what the views read (``request.args``, ``query_id()`` in
scrm/web/edge.py, ``day_range()`` in scrm/web/api.py) with the bounds they enforce; a value
out of bounds answers 400 ``bad_query``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scrm.validators import INT_ID_MAX
from scrm.web.edge import MAX_ID

PNG, PDF, CSV = "image/png", "application/pdf", "text/csv"  # media types of answers and bodies that are not JSON


@dataclass(frozen=True)
class Op:
    """``ok``: status → ``"module:Model"`` (a JSON answer), media types (PNG, PDF) or None (no
    content). ``body``: the JSON body's model (or CSV); ``partial``: a PATCH of some of the
    model's fields (none required); ``body_required``: False when the body may be left out.
    ``errors``: statuses beyond those every operation may answer."""

    ok: dict[int, str | tuple[str, ...] | None]
    body: str | None = None
    body_required: bool = True
    partial: bool = False
    query: tuple[dict[str, Any], ...] = ()
    errors: tuple[int, ...] = ()
    notes: str = ""


def q(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


ID = {"type": "integer", "minimum": 0, "maximum": MAX_ID}  # of a BIGINT column
INT_ID = {"type": "integer", "minimum": 0, "maximum": INT_ID_MAX}  # of an INTEGER column
DAY = {"type": "string", "format": "date"}
TEXT = {"type": "string", "minLength": 1}
CODE = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"}
FLAG = {"type": "string", "enum": ["1", "true", "0", "false"]}
CHANNEL = q("channel", {"type": "string", "enum": ["mp", "work"], "default": "mp"},
            "the code's channel: mp (Official Account) or work (WeCom)")


def day_range(most_days: int, default_days: int) -> tuple[dict[str, Any], ...]:
    return (
        q("from", DAY, f"the first local day (brand.timezone), YYYY-MM-DD, 1970-01-01 … 2999-12-31; default "
                       f"{default_days - 1} days before `to`; at most {most_days - 1} days before `to`"),
        q("to", DAY, "the last local day, YYYY-MM-DD, 1970-01-01 … 2999-12-31; default today"),
    )


CAMPAIGN_DAYS = q("days", {"type": "integer", "minimum": 1, "maximum": 90, "default": 7},
                  "the window after a send in which an order counts for the campaign")
NOT_READY = "409 while the code is not ready (WeChat has not made it yet)."
G, T, C, O, CU = "guides.schemas", "tagging.response_schemas", "scrm.coupons.schemas", "scrm.outreach.schemas", \
    "scrm.customers.schemas"
SANDBOX = "scrm.sandbox.schemas"
GC = "scrm.groups.code_schemas"
WELCOME_NOTES = ("Sent to WeCom (group_welcome_template/add|edit) before it is saved: 502 wechat_error with "
                 "WeCom's errcode when WeCom refuses, 409 too_many_templates for the 101st; nothing written.")
GS = "scrm.groups.sop_schemas"  # group SOP (群SOP)
M = "scrm.members.schemas"
P = "scrm.products.schemas"
SERIAL = {"type": "integer", "minimum": 1, "maximum": 100_000_000}

OPERATIONS: dict[str, Op] = {
    # ---- stores and guides (guides/routes.py)
    "guides_api.create_store": Op({201: f"{G}:StoreOut"}, body=f"{G}:StoreIn"),
    "guides_api.list_stores": Op({200: f"{G}:StoreListOut"}),
    "guides_api.get_store": Op({200: f"{G}:StoreDetailOut"}),
    "guides_api.store_qrcode": Op({200: PNG}, query=(CHANNEL,), errors=(409,), notes=NOT_READY),
    "guides_api.store_poster": Op({200: (PDF, PNG)}, query=(CHANNEL,), errors=(409,),
                                  notes="`fmt` is pdf or png. The header X-Codes-Missing names guides whose code "
                                        "is not ready; 409 when none is."),
    "guides_api.create_guide": Op({201: f"{G}:GuideOut"}, body=f"{G}:GuideIn"),
    "guides_api.list_guides": Op({200: f"{G}:GuideListOut"}, query=(
        q("store", CODE, "only the guides of this store"),
        q("include_left", FLAG, "1 or true: guides who left too"),
    )),
    "guides_api.get_guide": Op({200: f"{G}:GuideOut"}),
    "guides_api.update_guide": Op({200: f"{G}:GuideOut"}, body=f"{G}:GuideFields"),
    "guides_api.guide_qrcode": Op({200: PNG}, query=(CHANNEL,), errors=(409,), notes=NOT_READY),
    "guides_api.customers": Op({200: f"{G}:GuideCustomersOut"}, query=(
        q("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 30}, "customers in the page"),
        q("offset", {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0}, "customers skipped"),
        q("q", {"type": "string"}, "a nickname, phone or tag to look for"),
    )),
    "guides_api.guide_stats": Op({200: f"{G}:GuideStatsOut"}, query=day_range(366, 7)),
    "guides_api.leave": Op({200: f"{G}:LeaveOut"}, body=f"{G}:LeaveIn"),
    "guides_api.transfers": Op({200: f"{G}:TransfersOut"}),
    "guides_api.import_csv": Op({200: f"{G}:ImportOut"}, body=CSV, errors=(413,),
                                notes="All or nothing: 422 `bad_rows` lists every bad row (`errors`)."),
    # ---- tags, tag rules, orders (tagging/routes.py)
    "tags.list_tags": Op({200: f"{T}:TagListOut"}),
    "tags.create_group": Op({201: f"{T}:TagGroupOut"}, body="tagging.schemas:GroupIn"),
    "tags.update_group": Op({200: f"{T}:TagGroupOut"}, body="tagging.schemas:GroupChanges", errors=(409,),
                            notes="409 group_in_use (used_by) renaming a group whose tags saved segments "
                                  "name as group:tag."),
    "tags.create_tag": Op({201: f"{T}:TagOut"}, body="tagging.schemas:TagIn"),
    "tags.delete_tag": Op({204: None}, errors=(409,),
                         notes="409 tag_in_use (used_by: the saved segments that name the tag); a "
                               "computed group's tag is 409 too."),
    "tags.audience": Op({200: f"{T}:AudienceOut"}, query=(
        q("expr", {"type": "string", "minLength": 1, "maxLength": 1000}, "a tag expression (SPEC §5)",
          required=True),
    )),
    # ---- saved segments (tagging/segments/routes.py)
    "segments.list_segments": Op({200: f"{T}:SegmentListOut"}),
    "segments.create_segment": Op({201: f"{T}:SegmentOut"}, body="tagging.segments.service:SegmentIn", errors=(409,),
                                  notes="422 bad_expression when the expression does not resolve or would use "
                                        "itself through other segments; 409 name_taken."),
    "segments.get_segment": Op({200: f"{T}:SegmentOut"}),
    "segments.update_segment": Op({200: f"{T}:SegmentOut"}, body="tagging.segments.service:SegmentChanges",
                                  partial=True, errors=(409,),
                                  notes="409 segment_in_use when renaming a segment a campaign or segment names."),
    "segments.delete_segment": Op({204: None}, errors=(409,),
                                  notes="409 segment_in_use naming the campaigns (not done or cancelled) and "
                                        "segments that name it."),
    "tags.customer_tags": Op({200: f"{T}:CustomerTagsOut"}),
    "tags.add_customer_tag": Op({200: f"{T}:TagChangeOut"}, body="tagging.schemas:ManualTagIn"),
    "tags.remove_customer_tag": Op({200: f"{T}:TagChangeOut"}),
    "tags.list_rules": Op({200: f"{T}:TagRuleListOut"}, query=(q("tag_id", INT_ID, "only the rules of this tag"),)),
    "tags.create_rule": Op({201: f"{T}:TagRuleOut"}, body="tagging.schemas:TagRuleIn"),
    "tags.get_rule": Op({200: f"{T}:TagRuleOut"}),
    "tags.update_rule": Op({200: f"{T}:TagRuleOut"}, body="tagging.schemas:TagRuleIn", partial=True),
    "tags.delete_rule": Op({204: None}),
    "tags.create_order": Op({201: f"{T}:OrderCreatedOut", 200: f"{T}:OrderCreatedOut"},
                            body="tagging.schemas:_OrderFields", errors=(404, 409),
                            notes="Idempotent on `order_no`: 201 a new order, 200 the same again, 409 other "
                                  "content under a taken order_no. With `points_used`: 404 not_a_member, 409 "
                                  "not_enough_points (`available`), and no order is recorded."),
    "tags.refund_order": Op({201: f"{T}:RefundOut", 200: f"{T}:RefundOut"}, body="tagging.schemas:RefundIn",
                            errors=(404, 409),
                            notes="Reverses a member's points and growth in proportion and gives back points "
                                  "the order used. 404 order_not_found; 409 over_refund (`refundable`), "
                                  "refund_conflict (the refund_no was another amount). Without `refund_no`, the "
                                  "same amount again within 30 minutes of the order's last such refund is that "
                                  "refund retried (200)."),
    # ---- reply rules (scrm/replies/routes.py)
    "replies.list_rules": Op({200: "scrm.replies.schemas:ReplyRuleListOut"}),
    "replies.create_rule": Op({201: "scrm.replies.schemas:ReplyRuleOut"}, body="scrm.replies.schemas:RuleIn"),
    "replies.get_rule": Op({200: "scrm.replies.schemas:ReplyRuleOut"}),
    "replies.update_rule": Op({200: "scrm.replies.schemas:ReplyRuleOut"}, body="scrm.replies.schemas:RuleIn",
                              partial=True),
    "replies.delete_rule": Op({204: None}),
    "replies.get_menu": Op({200: "scrm.replies.schemas:MenuOut"}),
    # ---- coupons (scrm/coupons/routes.py)
    "coupons_api.create_template": Op({201: f"{C}:TemplateOut"}, body=f"{C}:TemplateIn"),
    "coupons_api.list_templates": Op({200: f"{C}:TemplateListOut"}),
    "coupons_api.get_template": Op({200: f"{C}:TemplateDetailOut"}),
    "coupons_api.change_template": Op({200: f"{C}:TemplateOut"}, body=f"{C}:TemplateChangeIn"),
    "coupons_api.create_rule": Op({201: f"{C}:CouponRuleOut"}, body=f"{C}:RuleIn"),
    "coupons_api.list_rules": Op({200: f"{C}:CouponRuleListOut"}),
    "coupons_api.change_rule": Op({200: f"{C}:CouponRuleOut"}, body=f"{C}:RuleActiveIn"),
    "coupons_api.issue_coupon": Op({201: f"{C}:CouponOut"}, body=f"{C}:IssueIn"),
    "coupons_api.list_coupons": Op({200: f"{C}:CouponListOut"}, query=(
        q("customer_id", ID, "the customer whose coupons to list (at most 500)", required=True),
    )),
    "coupons_api.find_coupon": Op({200: f"{C}:CouponCheckOut"}, query=(
        q("store_code", CODE, "where it would be redeemed (admins and managers; a guide: their own store)"),
    )),
    "coupons_api.redeem_coupon": Op({200: f"{C}:RedeemedOut"}, body=f"{C}:RedeemIn", errors=(429,),
                                    notes="Refusals answer their reason as the error code: 422 bad_code, 404 "
                                          "not_found, 409 already_redeemed, expired, voided, not_yet_valid, "
                                          "not_valid_in_store."),
    "coupons_api.void_coupon": Op({200: f"{C}:CouponOut"}, body=f"{C}:ReasonIn"),
    "coupons_api.unredeem_coupon": Op({200: f"{C}:CouponOut"}, body=f"{C}:ReasonIn"),
    "coupons_api.coupon_stats": Op({200: f"{C}:CouponStatsOut"}, query=(
        q("by", {"type": "string", "enum": ["template", "store", "guide", "day"], "default": "template"},
          "one row per template, store, guide or day"),
        *day_range(366, 30),
        q("template_id", INT_ID, "only this template's coupons"),
    )),
    "coupons_api.coupon_attempts": Op({200: f"{C}:AttemptListOut"}, query=(
        q("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}, "attempts, newest first"),
        q("coupon_id", ID, "only this coupon's attempts"),
    )),
    # ---- customers (scrm/customers/routes.py)
    "customers.lookup": Op({200: f"{CU}:CustomerOut"}, query=(
        q("openid", TEXT, "the customer's Official Account openid (give this or external_userid)"),
        q("external_userid", TEXT, "the customer's WeCom external_userid (give this or openid)"),
    ), notes="Exactly one of openid and external_userid, else 400 bad_query."),
    "customers.profile": Op({200: f"{CU}:CustomerProfileOut"}, query=(
        q("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "timeline entries"),
        q("before", {**ID, "minimum": 1}, "timeline entries before this one (`next_before` of the page before)"),
    )),
    "customers.change": Op({200: f"{CU}:CustomerOut"}, body=f"{CU}:CustomerChangeIn"),
    # ---- dashboard, groups, users
    "dashboard_api.stats_funnel": Op({200: "scrm.dashboard.schemas:FunnelOut"}, query=(
        *day_range(366, 30),
        q("store", CODE, "one store's codes and its guides' (admins and managers)"),
        q("guide", CODE, "one guide's codes (admins and managers; a guide always gets their own)"),
    )),
    "groups_api.list_groups": Op({200: "scrm.groups.schemas:GroupListOut"}, query=(
        q("dismissed", FLAG, "1 or true: dismissed groups too"),
    )),
    "groups_api.get_group": Op({200: "scrm.groups.schemas:GroupDetailOut"}, query=day_range(366, 30)),
    # ---- group live codes (scrm/groups/routes.py, 群活码)
    "groups_api.create_code": Op({201: f"{GC}:GroupCodeDetailOut"}, body=f"{GC}:GroupCodeIn",
                                 notes="422 naming the field: an unknown, dismissed or full group, more than 5, a "
                                       "limit outside 1-500; `wecom_refused` when WeCom refuses the join way."),
    "groups_api.list_codes": Op({200: f"{GC}:GroupCodeListOut"}),
    "groups_api.get_code": Op({200: f"{GC}:GroupCodeDetailOut"}, query=day_range(366, 30)),
    "groups_api.change_code": Op({200: f"{GC}:GroupCodeDetailOut"}, body=f"{GC}:GroupCodeChange", partial=True,
                                 notes="`chat_ids` is the new list in order: groups left out are taken off. "
                                       "WeCom's ways are told by a job, once per change."),
    "groups_api.retire_code": Op({200: f"{GC}:GroupCodeDetailOut"},
                                 notes="Retires the code: its WeCom join ways are deleted by a job; its groups, "
                                       "history and joins are kept."),
    "groups_api.code_qrcode": Op({200: PNG}, errors=(409,),
                                 notes="WeCom's image of the code's join way; 409 while it cannot be fetched."),
    "groups_api.list_welcome_templates": Op({200: "scrm.groups.schemas:WelcomeTemplateListOut"}),
    "groups_api.create_welcome_template": Op({201: "scrm.groups.schemas:WelcomeTemplateOut"},
                                             body="scrm.groups.welcome:WelcomeTemplateIn", errors=(409, 502),
                                             notes=WELCOME_NOTES),
    "groups_api.get_welcome_template": Op({200: "scrm.groups.schemas:WelcomeTemplateOut"}),
    "groups_api.edit_welcome_template": Op({200: "scrm.groups.schemas:WelcomeTemplateOut"},
                                           body="scrm.groups.welcome:WelcomeTemplateIn", partial=True,
                                           errors=(502,), notes=WELCOME_NOTES),
    "groups_api.delete_welcome_template": Op({204: None}, errors=(409, 502),
                                             notes="409 template_in_use while a group live code carries it."),
    "groups_api.list_group_sops": Op({200: f"{GS}:SopListOut"}),
    "groups_api.create_group_sop": Op({201: f"{GS}:SopOut"}, body=f"{GS}:SopIn",
                                      notes="An unknown guide or store in the selector: 422, nothing written."),
    "groups_api.get_group_sop": Op({200: f"{GS}:SopDetailOut"}),
    "groups_api.update_group_sop": Op({200: f"{GS}:SopOut"}, body=f"{GS}:SopPatch"),
    "groups_api.group_stats": Op({200: "scrm.groups.schemas:GroupStatsOut"}, query=(
        *day_range(366, 30),
        q("by", {"type": "string", "enum": ["day", "group", "owner", "code"], "default": "day"},
          "rows per local day, group, group owner or live code"),
    ), notes="by=owner: sop_tasks and sop_on_time are the group SOP's tasks due in the period (scrm/groups/sop.py); "
             "by=code: joins through each live code's ways (scrm/groups/code_stats.py)."),
    "members_api.member_stats": Op({200: "scrm.members.stats_schemas:MemberStatsOut"}, query=day_range(366, 30),
                                   notes="Days are local (brand.timezone); `before` is the period of the same "
                                         "length just before. by_level and outstanding are now."),
    # ---- membership (scrm/members/routes.py)
    "members_api.member_card": Op({200: f"{M}:MemberCardOut"},
                                  notes="A guide sees only the customers bound to them (403 otherwise), the phone "
                                        "masked. 404 not_a_member for a customer who has not joined."),
    "members_api.member_points": Op({200: f"{M}:PointEntryPageOut"}, query=(
        q("page", {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 1}, "the page, from 1"),
        q("per_page", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "entries a page"),
    ), notes="The ledger, newest first."),
    "members_api.change_points": Op({200: f"{M}:PointsChangedOut", 201: f"{M}:PointsChangedOut"},
                                    body=f"{M}:MemberPointsIn", errors=(409,),
                                    notes="201 for a new change, 200 with the first entry for a key used before; "
                                          "409 not_enough_points (with `available`) for a deduction of more than "
                                          "is available, 409 key_reused for a key used for another change."),
    "members_api.list_items": Op({200: f"{M}:MallItemListOut"}, query=(
        q("customer_id", ID, "whose view: `available` and `why_not` for this member (a guide: their own "
                             "customers); with the member's own session, themselves"),
        q("include_paused", FLAG, "paused items too (admins and managers)"),
    ), notes="Anyone signed in: a bearer token of any role, or the member's own session (the /c/ pages' "
             "cookie)."),
    "members_api.create_item": Op({201: f"{M}:MallItemOut"}, body=f"{M}:MallItemIn",
                                  notes="422 naming template_id or min_level_id when there is no such one."),
    "members_api.change_item": Op({200: f"{M}:MallItemOut"}, body=f"{M}:MallItemChangeIn", partial=True,
                                  notes="Only the fields given change; null clears stock, per_member_limit, "
                                        "min_level_id or description. 422 stock_below_exchanged."),
    "members_api.exchange": Op({200: f"{M}:ExchangedOut", 201: f"{M}:ExchangedOut"}, body=f"{M}:ExchangeIn",
                               errors=(409,),
                               notes="The member's own session (with X-CSRFToken) or a manager's token naming "
                                     "customer_id. 201 new; 200 for a key exchanged before. 409 "
                                     "not_enough_points, out_of_stock, limit_reached, level_required, item_paused, "
                                     "template_unavailable, key_reused; 404 not_a_member, item_not_found."),
    "members_api.check_in": Op({200: f"{M}:CheckedInOut", 201: f"{M}:CheckedInOut"}, body=f"{M}:CheckinIn",
                               body_required=False,
                               notes="The member's own session (with X-CSRFToken) or a manager's token naming "
                                     "customer_id. 201 the day's check-in; 200 checked in that local day already "
                                     "(the first's figures). 404 not_a_member."),
    # ---- product codes (scrm/products/routes.py, 一物一码)
    "products_api.create_batch": Op({201: f"{P}:BatchOut"}, body=f"{P}:BatchIn",
                                    notes="422 naming the field: an unknown store_code or coupon_template_id, a "
                                          "valid_until before today, a quantity outside 1-100,000,000, both or "
                                          "neither of points and coupon_template_id; nothing written."),
    "products_api.list_batches": Op({200: f"{P}:BatchListOut"}, query=(
        q("page", {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 1}, "the page, from 1"),
        q("per_page", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "batches a page"),
    ), notes="Newest first."),
    "products_api.get_batch": Op({200: f"{P}:BatchOut"}),
    "products_api.codes_csv": Op({200: CSV}, query=(
        q("from", SERIAL, "the first serial; default 1"),
        q("to", SERIAL, "the last serial, at most the batch's quantity; default the quantity"),
    ), notes="`serial,code,url` (UTF-8), one row per serial, streamed as it is made: any size, flat memory. "
             "422 for a range beyond the batch."),
    "products_api.sheet_pdf": Op({200: PDF}, query=(
        q("from", SERIAL, "the first serial", required=True),
        q("to", SERIAL, "the last serial: at most 5,000 labels, at most the batch's quantity", required=True),
    ), notes="A4 pages of 65 labels (5 × 13, 38.1 × 21.2 mm, Avery L7651 layout): the code's QR, the product, "
             "the serial and the code. 422 for a range beyond the batch or of more than 5,000."),
    "products_api.product_stats": Op({200: "scrm.products.stats_schemas:ProductStatsOut"}, query=(
        *day_range(93, 30),
        q("batch_id", INT_ID, "only this batch"),
        q("product", TEXT, "only batches of this product (its name)"),
        q("store", CODE, "only this store (its code): claims credited to it, scans of its batches"),
        q("guide", CODE, "only this guide (their code): claims credited to them, scans by their customers"),
    ), notes="404 for a batch, product, store or guide that does not exist. A line's period before has "
             "customers null (counted for the totals only)."),
    "users.me": Op({200: "scrm.users.schemas:MeOut"}),
    "users.list_users": Op({200: "scrm.users.schemas:UserListOut"}),
    # ---- campaigns, journeys, events (scrm/outreach/routes.py)
    "campaigns_api.create_campaign": Op({201: f"{O}:CampaignOut"}, body=f"{O}:CampaignIn"),
    "campaigns_api.list_campaigns": Op({200: f"{O}:CampaignListOut"}),
    "campaigns_api.get_campaign": Op({200: f"{O}:CampaignDetailOut"}, query=(CAMPAIGN_DAYS,)),
    "campaigns_api.update_campaign": Op({200: f"{O}:CampaignOut"}, body=f"{O}:CampaignIn",
                                        notes="Only a draft: else 409 not_editable."),
    "campaigns_api.campaign_results": Op({200: f"{O}:CampaignResultsOut"}, query=(CAMPAIGN_DAYS,)),
    "campaigns_api.preview_audience": Op({200: f"{O}:PreviewOut"}, body=f"{O}:PreviewIn",
                                         notes="`audience` is required here."),
    "campaigns_api.preview_campaign": Op({200: f"{O}:PreviewOut"}, body=f"{O}:PreviewIn", body_required=False),
    "campaigns_api.launch_campaign": Op({200: f"{O}:CampaignOut"}),
    "campaigns_api.pause_campaign": Op({200: f"{O}:CampaignOut"}),
    "campaigns_api.cancel_campaign": Op({200: f"{O}:CampaignOut"}),
    "campaigns_api.list_journeys": Op({200: f"{O}:JourneyListOut"}),
    "campaigns_api.start_journey": Op({201: f"{O}:CampaignOut"}, body="scrm.outreach.journeys:JourneyStartIn",
                                      body_required=False),
    "campaigns_api.post_event": Op({201: f"{O}:EventOut", 200: f"{O}:EventOut"}, body="scrm.outreach.events:EventIn",
                                   notes="201 a new event, 200 the same `event_key` again, 409 the key taken by "
                                         "another event."),
    # ---- the sandbox's controls (scrm/sandbox/routes.py), with wechat.sandbox = true only
    "sandbox_control.list_calls": Op({200: f"{SANDBOX}:CallListOut"}, query=(
        q("channel", {"type": "string", "enum": ["mp", "work"]}, "only this channel's calls"),
        q("api", {"type": "string"}, "only calls of this api"),
    )),
    "sandbox_control.clear_calls": Op({204: None}),
    "sandbox_control.add_fault": Op({201: f"{SANDBOX}:FaultOut"}, body="scrm.sandbox.routes:FaultIn"),
    "sandbox_control.list_faults": Op({200: f"{SANDBOX}:FaultListOut"}),
    "sandbox_control.clear_faults": Op({204: None}),
    "sandbox_control.confirm_msg_task": Op({200: f"{SANDBOX}:MsgTaskOut"}, body=f"{SANDBOX}:MsgTaskConfirmIn",
                                           body_required=False),
    "sandbox_control.apply_group_welcome": Op({200: f"{SANDBOX}:GroupWelcomeApplyOut"},
                                              body=f"{SANDBOX}:GroupWelcomeApplyIn"),
}

# Statuses any operation may answer (scrm/web/errors.py): 400 a bad query or body (``bad_json``,
# ``bad_query``, a NUL), 401 no valid bearer token, 403 a role or a guide's reach, 404 nothing
# there (ids beyond 64 bits too), 422 a field that does not validate (``field`` names it).
EVERY_ERROR = (400, 401, 403, 404, 422)
WRITE_ERRORS = (409, 415)  # a conflict with what exists; a body that is not JSON
ERROR_WORDS = {
    400: "Bad request: the body is not a JSON object (bad_json), a query parameter is out of bounds (bad_query), "
         "or a NUL character",
    401: "No valid bearer token (Authorization: Bearer <token>); a session cookie does not authenticate /api/",
    403: "The token's role may not do this, or a guide asks for what is not theirs",
    404: "Nothing there",
    409: "A conflict with what exists (a taken code, a refused state change)",
    413: "The file is over 2 MiB",
    415: "A body whose Content-Type is not application/json (unsupported_media_type)",
    422: "A field that does not validate: `field` names it, `errors` lists every one",
    429: "Too many attempts: wait Retry-After seconds",
    502: "WeChat or WeCom refused the call the operation depends on (wechat_error, with its errcode); nothing written",
}

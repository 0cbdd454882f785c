"""What the tagging API answers, as /api/openapi.json describes it (scrm/web/openapi.py): tag
groups and tags, a customer's tags, audiences, tag rules and orders. (What it accepts is in
tagging/schemas.py, already long enough.)"""

from __future__ import annotations

from pydantic import BaseModel, Field


class TagWeChatOut(BaseModel):
    mp_tag_id: int | None
    work_tag_id: str | None
    mp_error: str | None = Field(description="why WeChat refused the tag, if it did")


class TagOut(BaseModel):
    id: int
    group_id: int
    name: str
    customers: int = Field(description="customers who carry it now")
    wechat: TagWeChatOut
    group: str | None = Field(None, description="the group's name (on create)")


class TagGroupOut(BaseModel):
    id: int
    name: str
    half_life_days: float | None
    threshold: float
    computed: bool
    created_at: str | None
    tags: list[TagOut] | None = None


class TagListOut(BaseModel):
    groups: list[TagGroupOut]


class SampleCustomerOut(BaseModel):
    id: int
    nickname: str | None


class AudienceOut(BaseModel):
    expr: str
    count: int
    sample: list[SampleCustomerOut]


class CarriedTagOut(BaseModel):
    tag_id: int
    group: str
    tag: str
    score: float
    source: str = Field(description="manual, computed or rule")


class CustomerTagsOut(BaseModel):
    customer_id: int = Field(description="the customer's id after merges")
    tags: list[CarriedTagOut]


class TagChangeOut(CustomerTagsOut):
    changed: bool


class TagRuleOut(BaseModel):
    id: int
    kind: str
    pattern: str
    tag_id: int
    weight: float
    synonyms: list[str]
    substring: bool
    enabled: bool
    created_at: str | None


class TagRuleListOut(BaseModel):
    rules: list[TagRuleOut]


class OrderOut(BaseModel):
    id: int
    order_no: str
    customer_id: int
    amount: str = Field(description="yuan, two decimals")
    ordered_at: str
    store_code: str | None
    guide_code: str | None
    credited_guide_id: int | None
    points_used: int = Field(description="a member's points that paid part of it")
    refunded_amount: str = Field(description="yuan refunded so far, two decimals")
    created_at: str


class OrderMemberOut(BaseModel):
    points_earned: int = Field(description="points the order earned (frozen for members.freeze_days)")
    points_available_at: str | None = Field(description="when the earned points can be spent")
    growth: int = Field(description="growth value the order gave")
    points_used: int


class OrderCreatedOut(OrderOut):
    member: OrderMemberOut | None = Field(description="what the order gave and spent of the customer's "
                                                      "membership; null when the customer is not a member")


class RefundRowOut(BaseModel):
    refund_no: str = Field(description="the order system's number, or auto:<refunded before>+<amount>")
    amount: str
    refunded_at: str


class ReversedOut(BaseModel):
    points_taken_back: int
    growth_taken_back: int
    points_returned: int = Field(description="of the points the order used, given back")


class RefundOut(OrderOut):
    refund: RefundRowOut
    reversed: ReversedOut


class SegmentOut(BaseModel):
    id: int
    name: str
    expr: str = Field(description="the tag expression (SPEC §5), which may name other segments")
    term: str = Field(description="how an expression names this segment: segment:名字 (quoted when needed)")
    count: int | None = Field(description="customers in it now; null when the expression no longer resolves")
    error: str | None = Field(description="why the expression no longer resolves (a tag it names was deleted)")
    created_by: str
    updated_by: str
    created_at: str | None
    updated_at: str | None


class SegmentListOut(BaseModel):
    segments: list[SegmentOut]

"""Every domain's models, imported so ``Base.metadata`` is complete (Alembic, tests)."""

from guides.models import Binding, Guide, GuideTransfer, Store
from handlers.models import CallbackRecord
from qrcodes.models import ChannelCode, CodeDayStats
from scrm.coupons.models import (
    Coupon,
    CouponAttempt,
    CouponHolding,
    CouponReminder,
    CouponRule,
    CouponTemplate,
    CouponTemplateStore,
)
from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.db import Base
from scrm.groups.models import (
    CustomerGroup,
    GroupCode,
    GroupCodeChat,
    GroupCodeDayStats,
    GroupCodeWay,
    GroupDayStats,
    GroupMember,
)
from scrm.outreach.models import Campaign, CampaignRun, Delivery, OutreachEvent
from scrm.replies.models import ReplyRule
from scrm.sandbox.models import (
    SandboxCounter,
    SandboxCustomer,
    SandboxDocument,
    SandboxFollower,
    SandboxFollowerTag,
    SandboxMember,
    SandboxMessage,
    SandboxMpTag,
    SandboxRelation,
    SandboxRelationTag,
)
from scrm.users.models import ApiToken, User
from tagging.models import CustomerTag, Order, Segment, Tag, TagGroup, TagRule, WeComPairTags

__all__ = [
    "ApiToken",
    "Base",
    "Binding",
    "Campaign",
    "CampaignRun",
    "CallbackRecord",
    "ChannelCode",
    "CodeDayStats",
    "Coupon",
    "CouponAttempt",
    "CouponHolding",
    "CouponReminder",
    "CouponRule",
    "CouponTemplate",
    "CouponTemplateStore",
    "Customer",
    "CustomerIdentity",
    "Interaction",
    "CustomerTag",
    "CustomerGroup",
    "GroupCode",
    "GroupCodeChat",
    "GroupCodeDayStats",
    "GroupCodeWay",
    "GroupDayStats",
    "GroupMember",
    "Delivery",
    "Guide",
    "GuideTransfer",
    "Order",
    "OutreachEvent",
    "ReplyRule",
    "SandboxCounter",
    "SandboxCustomer",
    "SandboxDocument",
    "SandboxFollower",
    "SandboxFollowerTag",
    "SandboxMember",
    "SandboxMessage",
    "SandboxMpTag",
    "SandboxRelation",
    "SandboxRelationTag",
    "Segment",
    "Store",
    "Tag",
    "TagGroup",
    "TagRule",
    "User",
    "WeComPairTags",
]

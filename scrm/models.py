"""Every domain's models, imported so ``Base.metadata`` is complete (Alembic, tests)."""

from handlers.models import CallbackRecord
from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.db import Base
from scrm.replies.models import ReplyRule
from scrm.users.models import ApiToken, User
from tagging.models import CustomerTag, Order, Tag, TagGroup, TagRule

__all__ = [
    "ApiToken",
    "Base",
    "CallbackRecord",
    "Customer",
    "CustomerIdentity",
    "Interaction",
    "CustomerTag",
    "Order",
    "ReplyRule",
    "Tag",
    "TagGroup",
    "TagRule",
    "User",
]

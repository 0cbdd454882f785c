"""Every domain's models, imported so ``Base.metadata`` is complete (Alembic, tests)."""

from scrm.customers.models import Customer, CustomerIdentity, Interaction
from scrm.db import Base
from scrm.users.models import ApiToken, User

__all__ = ["ApiToken", "Base", "Customer", "CustomerIdentity", "Interaction", "User"]

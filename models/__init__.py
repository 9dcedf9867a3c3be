"""All models, imported once so SQLAlchemy and Alembic know every table (in this order: the areas
build on the master data and on each other)."""
# ruff: noqa: I001

from models import base, history, master, security, system, task, workflow  # noqa: F401
from models import billing, services, services_attendance, services_price, services_subscription  # noqa: F401
from models import reception, reception_contact, reception_forum, survey  # noqa: F401
from models import repair  # noqa: F401
from models import complaint, rectification, revisit  # noqa: F401

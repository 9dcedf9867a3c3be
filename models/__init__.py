"""All models, imported once so SQLAlchemy and Alembic know every table."""

from models import base, master, notify, system, task, workflow  # noqa: F401

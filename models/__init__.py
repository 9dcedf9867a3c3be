"""All models, imported once so SQLAlchemy and Alembic know every table."""

from models import base, history, master, security, system, task, workflow  # noqa: F401

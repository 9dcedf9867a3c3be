"""security stamp: the number the processes check their kept permissions and estates against

Revision ID: 0002_security_stamp
Revises: 0001_initial
Create Date: 2026-11-29 07:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_security_stamp'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade():
    stamp = op.create_table('security_stamp',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(stamp, [{'id': 1, 'version': 1}])


def downgrade():
    op.drop_table('security_stamp')

"""the language each message of the development outbox was written in

Revision ID: 0010_outbox_language
Revises: 0009_trusted_browsers
Create Date: 2026-12-07 17:10:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_outbox_language'
down_revision = '0009_trusted_browsers'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('dev_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), server_default='',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('dev_outbox', schema=None) as batch_op:
        batch_op.drop_column('language')

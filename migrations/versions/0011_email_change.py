"""the new address an email-change link confirms

Revision ID: 0011_email_change
Revises: 0010_outbox_language
Create Date: 2026-12-07 16:40:00

Nullable: confirmation and reset links confirm no new address. A change of
address is pending exactly while an unused, unexpired ``email_change`` link
holds one (hubweb.settings.email_change); the account's address stays the
old one until it is opened.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_email_change'
down_revision = '0010_outbox_language'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('email_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('new_email', sa.String(length=320), nullable=True))


def downgrade():
    with op.batch_alter_table('email_tokens', schema=None) as batch_op:
        batch_op.drop_column('new_email')

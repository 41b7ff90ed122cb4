"""the language chosen for an account

Revision ID: 0008_user_language
Revises: 0006_credential_version
Create Date: 2026-12-07 16:00:00

Nullable: existing accounts have no saved choice and keep following their
browser (hubweb.i18n) until their owner picks a language.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_user_language'
down_revision = '0007_authenticators'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('language')

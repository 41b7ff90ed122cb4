"""trusted browsers: "Don't ask again on this browser" at the second step

Revision ID: 0009_trusted_browsers
Revises: 0008_user_language
Create Date: 2026-12-07 16:30:00

One row per browser an account trusted: the SHA-256 of the cookie's token,
when it was trusted and until when, the browser and IP that did it, and the
account's credential version at that moment (a later change of the password
or the two-step set-up ends every trust of the account).
"""
from alembic import op
import sqlalchemy as sa
import hubweb.timeutil


# revision identifiers, used by Alembic.
revision = '0009_trusted_browsers'
down_revision = '0008_user_language'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('trusted_browsers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', hubweb.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', hubweb.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', hubweb.timeutil.UTCDateTime(timezone=True), nullable=True),
        sa.Column('user_agent', sa.String(length=512), nullable=False),
        sa.Column('ip', sa.String(length=64), nullable=False),
        sa.Column('credential_version', sa.Integer(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    with op.batch_alter_table('trusted_browsers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trusted_browsers_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('trusted_browsers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trusted_browsers_user_id'))
    op.drop_table('trusted_browsers')

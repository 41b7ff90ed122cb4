"""one table of authenticators: the factor columns of users move into rows

Revision ID: 0007_authenticators
Revises: 0006_credential_version
Create Date: 2026-12-07 16:00:00

Each account's SMS number (when SMS was on) becomes one ``sms`` row, its
authenticator-app key (when on) one ``app`` row with the last accepted time
step, and a key being set up one ``app`` row not yet enabled. The encrypted
keys move as they are (the same ``ENCRYPTION_KEYS`` decrypt them). The
downgrade moves the first row of each kind back into the columns.
"""
from alembic import op
import sqlalchemy as sa
import hubweb.timeutil


# revision identifiers, used by Alembic.
revision = '0007_authenticators'
down_revision = '0006_credential_version'
branch_labels = None
depends_on = None

COLUMNS = "user_id, kind, name, lookup, data, secret, created_at, enabled_at, last_step"
UP = [
    f"INSERT INTO authenticators ({COLUMNS}) SELECT id, 'sms', '', sms_phone, '{{}}', NULL, "
    "sms_enabled_at, sms_enabled_at, NULL FROM users "
    "WHERE sms_phone IS NOT NULL AND sms_enabled_at IS NOT NULL ORDER BY id",
    f"INSERT INTO authenticators ({COLUMNS}) SELECT id, 'app', '', NULL, '{{}}', totp_secret, "
    "totp_enabled_at, totp_enabled_at, totp_last_step FROM users "
    "WHERE totp_secret IS NOT NULL AND totp_enabled_at IS NOT NULL ORDER BY id",
    f"INSERT INTO authenticators ({COLUMNS}) SELECT id, 'app', '', NULL, '{{}}', "
    "totp_pending_secret, totp_pending_at, NULL, NULL FROM users "
    "WHERE totp_pending_secret IS NOT NULL AND totp_pending_at IS NOT NULL ORDER BY id",
]


def _first(kind: str, column: str, enabled: bool) -> str:
    state = "IS NOT NULL" if enabled else "IS NULL"
    return (f"(SELECT a.{column} FROM authenticators a WHERE a.user_id = users.id "
            f"AND a.kind = '{kind}' AND a.enabled_at {state} ORDER BY a.id LIMIT 1)")


DOWN = ("UPDATE users SET "
        f"sms_phone = {_first('sms', 'lookup', True)}, "
        f"sms_enabled_at = {_first('sms', 'enabled_at', True)}, "
        f"totp_secret = {_first('app', 'secret', True)}, "
        f"totp_enabled_at = {_first('app', 'enabled_at', True)}, "
        f"totp_last_step = {_first('app', 'last_step', True)}, "
        f"totp_pending_secret = {_first('app', 'secret', False)}, "
        f"totp_pending_at = {_first('app', 'created_at', False)}")


def upgrade():
    op.create_table('authenticators',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=64), server_default='', nullable=False),
        sa.Column('lookup', sa.String(length=255), nullable=True),
        sa.Column('data', sa.Text(), server_default='{}', nullable=False),
        sa.Column('secret', sa.Text(), nullable=True),
        sa.Column('created_at', hubweb.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.Column('enabled_at', hubweb.timeutil.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_used_at', hubweb.timeutil.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_step', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('authenticators', schema=None) as batch_op:
        batch_op.create_index('ix_authenticators_kind_lookup', ['kind', 'lookup'], unique=False)
        batch_op.create_index(batch_op.f('ix_authenticators_user_id'), ['user_id'], unique=False)
    for statement in UP:
        op.execute(statement)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_sms_phone'))
        for column in ('sms_phone', 'sms_enabled_at', 'totp_secret', 'totp_enabled_at',
                       'totp_last_step', 'totp_pending_secret', 'totp_pending_at'):
            batch_op.drop_column(column)


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_phone', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('sms_enabled_at', hubweb.timeutil.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('totp_secret', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('totp_enabled_at', hubweb.timeutil.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('totp_pending_secret', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('totp_pending_at', hubweb.timeutil.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_sms_phone'), ['sms_phone'], unique=False)
    op.execute(DOWN)
    with op.batch_alter_table('authenticators', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authenticators_user_id'))
        batch_op.drop_index('ix_authenticators_kind_lookup')
    op.drop_table('authenticators')

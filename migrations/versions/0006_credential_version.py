"""credential version on users and emailed links; factors shown by each session

Revision ID: 0006_credential_version
Revises: 0005_mail_queue
Create Date: 2026-12-07 13:00:00

Existing sessions are given the factors they can be shown to have had: a
signed-in session that began after its account turned two-step verification
on passed the second step (2); any other signed-in or pending session showed
the password alone (1), so on an account with two-step verification on, a
session that predates it is signed out on its next request (issue 10, item 2).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_credential_version'
down_revision = '0005_mail_queue'
branch_labels = None
depends_on = None

BACKFILL = """
UPDATE sessions SET factors = CASE
  WHEN state = 'signed_in' AND EXISTS (
    SELECT 1 FROM users u WHERE u.id = sessions.user_id
      AND u.sms_enabled_at IS NOT NULL AND u.sms_phone IS NOT NULL
      AND sessions.created_at >= u.sms_enabled_at) THEN 2
  WHEN state IN ('signed_in', 'pending') THEN 1
  ELSE 0 END
"""


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credential_version', sa.Integer(), server_default='0',
                                      nullable=False))
    with op.batch_alter_table('email_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credential_version', sa.Integer(), server_default='0',
                                      nullable=False))
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('factors', sa.SmallInteger(), server_default='0',
                                      nullable=False))
    op.execute(BACKFILL)


def downgrade():
    # Older code knows no "ended" state: those sessions are over anyway.
    op.execute("DELETE FROM sessions WHERE state = 'ended'")
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('factors')
    with op.batch_alter_table('email_tokens', schema=None) as batch_op:
        batch_op.drop_column('credential_version')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('credential_version')

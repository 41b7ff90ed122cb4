"""mail queue: the transactional outbox of the smtp backend (hubweb.mailqueue)

Revision ID: 0005_mail_queue
Revises: cc6396919fe4 (0004_password_failures)
Create Date: 2026-12-07 13:10:00

"""
from alembic import op
import sqlalchemy as sa
import hubweb.timeutil


# revision identifiers, used by Alembic.
revision = '0005_mail_queue'
down_revision = 'cc6396919fe4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'mail_queue',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('recipient', sa.String(length=320), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('created_at', hubweb.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.Column('next_attempt_at', hubweb.timeutil.UTCDateTime(timezone=True), nullable=False),
        sa.Column('sent_at', hubweb.timeutil.UTCDateTime(timezone=True), nullable=True),
        sa.Column('failed_at', hubweb.timeutil.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_mail_queue_due', 'mail_queue',
                    ['sent_at', 'failed_at', 'next_attempt_at'], unique=False)


def downgrade():
    op.drop_index('ix_mail_queue_due', table_name='mail_queue')
    op.drop_table('mail_queue')

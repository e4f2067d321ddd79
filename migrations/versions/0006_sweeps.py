"""Sweeps, and the jobs that make up each one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("owner_key_id", sa.String(32), nullable=True),
        sa.Column("base_spec", sa.JSON(), nullable=False),
        sa.Column("search", sa.JSON(), nullable=False),
        sa.Column("points_total", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
    )
    op.create_index(op.f("ix_sweeps_owner_key_id"), "sweeps", ["owner_key_id"])
    op.create_index(op.f("ix_sweeps_created_at"), "sweeps", ["created_at"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("sweep_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("sweep_point", sa.JSON(), nullable=True))
        batch.create_index(op.f("ix_jobs_sweep_id"), ["sweep_id"])
        batch.create_foreign_key(op.f("fk_jobs_sweep_id_sweeps"), "sweeps", ["sweep_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("fk_jobs_sweep_id_sweeps", type_="foreignkey")
        batch.drop_index("ix_jobs_sweep_id")
        batch.drop_column("sweep_point")
        batch.drop_column("sweep_id")
    op.drop_index("ix_sweeps_created_at", table_name="sweeps")
    op.drop_index("ix_sweeps_owner_key_id", table_name="sweeps")
    op.drop_table("sweeps")

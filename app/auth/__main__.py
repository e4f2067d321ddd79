"""Manage API keys on the configured database: ``python -m app.auth create|list|revoke``.

This is the operator's way in when no admin key is at hand (the same functions
serve ``/v1/keys``). The new key is printed once; only its hash is stored.
"""

import argparse
import sys

from app.auth import keys
from app.auth.models import Scope
from app.core.db import Database, upgrade_database
from app.core.errors import DomainError
from app.core.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.auth", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=[scope.value for scope in Scope],
        help="predict, train or admin; repeat for several",
    )
    commands.add_parser("list", help="list keys (never the keys themselves)")
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)

    settings = Settings()
    settings.apply_umask()
    upgrade_database(settings.database_url)
    database = Database(settings.database_url)
    try:
        with database.session_scope() as session:
            if args.command == "create":
                row, key = keys.create_key(session, args.name, [Scope(s) for s in args.scope])
                print(f"created key {row.id} ({row.scopes}) for {row.name!r}:")
                print(key)
                print("Keep it now: it is stored only as a hash and cannot be shown again.")
            elif args.command == "list":
                for row in keys.list_keys(session):
                    state = (
                        f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
                    )
                    print(f"{row.id}\t{row.scopes}\t{state}\t{row.name}")
            else:
                operator_key = settings.admin_key is not None
                row = keys.revoke_key(session, args.key_id, operator_key=operator_key)
                print(f"revoked key {row.id} ({row.name!r})")
    except DomainError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    finally:
        database.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

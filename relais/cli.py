"""The `relais` console script: Django's management commands with our settings."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relais.settings")
    from django.core.management import execute_from_command_line

    from relais.audit.context import audit_actor

    # A command's audit rows name it (actor "system"); web requests and tasks it runs
    # name their own actor (relais.audit.context).
    with audit_actor(system=f"command:{sys.argv[1] if len(sys.argv) > 1 else 'help'}"):
        execute_from_command_line(["relais", *sys.argv[1:]])


if __name__ == "__main__":
    main()

"""Shared bits for management commands: the named CLI actor."""

import getpass

from audit.context import Actor


def cli_actor(command: str) -> Actor:
    """Commands act as a named system actor: the command and the operating-system user running it."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(type="system", id=f"cli:{command}", username=who, auth="cli")

"""`python -m ragkit` is the `ragkit` command."""

from .cli import main

main()

"""`python -m sealpost` runs the CLI."""

from sealpost.cli import main

main()

"""`python -m streams.cli`: the `platestream` command without its entry-point script."""

from streams.cli.app import main

main()

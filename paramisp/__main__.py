"""``python -m paramisp`` runs the ``paramisp`` command line."""

from paramisp.cli.main import main

main()

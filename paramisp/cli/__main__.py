"""``python -m paramisp.cli`` runs the ``paramisp`` command line (as ``python -m paramisp`` does)."""

from paramisp.cli.main import main

main()

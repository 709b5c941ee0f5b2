"""``python -m core_isp.cli`` runs the ``paramisp`` command line."""

from core_isp.cli.main import main

main()

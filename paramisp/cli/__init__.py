"""The ``paramisp`` command line."""

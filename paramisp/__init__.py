"""paramisp: the command line above the core ISP library (``core_isp``) and its applications (``apps``)."""

"""Applications that chain inverse ISP -> RAW-domain processing -> forward ISP."""

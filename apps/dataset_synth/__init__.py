"""Realistic blur-dataset synthesis in the RAW domain (not built yet)."""

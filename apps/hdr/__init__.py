"""HDR merges from exposure brackets and single photos (not built yet)."""

"""Camera-to-camera appearance transfer (not built yet)."""

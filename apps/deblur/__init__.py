"""RAW-domain deblurring of sRGB or RAW photos (not built yet)."""

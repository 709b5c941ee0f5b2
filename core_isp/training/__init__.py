"""Training the ISPs: data (simulated cameras, a user's RAW folder), stages, reproducible runs."""

"""Model zoo registry (filled by the models work)."""

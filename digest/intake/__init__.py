"""Taking listings in: the inbox scan, safe reading, the loader, the take-in."""

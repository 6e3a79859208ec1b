"""Fetching the Daily Papers listing into the inbox, politely: one file per day."""

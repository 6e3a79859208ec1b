"""Delivering what was published: email over SMTP, pings and chat posts."""

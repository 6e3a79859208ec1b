"""The commented config ``digest init`` writes."""

STARTER = """\
# digest configuration. Paths are relative to this file.
# Reference: https://github.com/ (see README.md, "Configuration").

title = "{title}"
description = "New research papers, once each."
# The address the output folder is served from; feeds and emails link to it.
url = "http://localhost:8000/"
author = "{author}"

# Drop digest files (saved paper listings) here.
inbox = "inbox"
# Markdown, web pages, feeds and emails are written here.
output = "output"
# Everything digest remembers (papers seen, issues, runs). Back it up.
state = ".digest/state.sqlite"
# Your own templates; any file here overrides the built-in one of the same name.
# templates = "templates"

# How many papers the RSS/Atom feeds carry, newest first.
feed_size = 100
# Files larger than this are rejected unread.
max_file_size = "32MB"
# Helper processes that read and parse files during a large import (32 MB of new files
# or more): "auto" is one per spare core; 0 reads everything in the main process.
workers = "auto"

# [email]
# sender = "Digest <digest@example.org>"
# to = ["team@example.org"]
# smtp_host = "smtp.example.org"
# smtp_port = 587
# security = "starttls"        # "starttls", "tls" or "none"
# username = "digest@example.org"
# password_env = "DIGEST_SMTP_PASSWORD"   # the password itself never goes here
# list_unsubscribe = "mailto:team-unsubscribe@example.org"
# send_after_run = false

# Sections, in order: a paper goes in the first whose phrases it contains (word
# boundaries, any case); the rest go in "Other".
# [[sections]]
# name = "Diffusion"
# match = ["diffusion", "score-based"]
# fields = ["title", "abstract"]     # also "organization"
# exclude = ["language model"]
#
# [filters]                          # filtered papers are still remembered as seen
# exclude = ["survey"]
# include = ["learning"]             # if set, papers must match one of these
# min_upvotes = 2
# max_age_days = 365
#
# [ranking]
# order = "upvotes"                  # or "page" (the order of the digest files)
# other_section = "Other"
# group_by = "sections"              # or "organization"

# Papers of earlier issues whose upvotes grew, listed once under "Rising" (never as new):
# [rising]
# min_gain = 10                      # at least this many more upvotes, or
# min_factor = 3.0                   # at least this many times as many
# max_papers = 10

# [schedule]
# cron = "0 8 * * mon"           # every Monday at 08:00
# timezone = "Europe/Berlin"     # default: this machine's
# every = "6h"                   # instead of cron
# misfire_grace = "6h"           # a run missed by less than this still happens
"""

"""The commented config ``digest init`` writes. Every key is explained in the README's
section "Configuration" (and "Email", "Daemon"), which the file names by section: a
link would point at one copy of the README, and go stale with it."""

STARTER = """\
# digest configuration. Paths are relative to this file.
# Every key is explained in digest's README.md, section "Configuration" (the email in
# "Email", the schedule in "Daemon"). Unknown keys are errors, so a typo says so.

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
# Where a paper's title links when its text names no arXiv id (an id such as
# arXiv:2401.01234, or an arxiv.org link, always links to https://arxiv.org/abs/<id>).
# {{title}} is the title, URL-encoded. The default searches arXiv by title:
# paper_link = "https://arxiv.org/search/?query={{title}}&searchtype=title"

# How many papers the RSS/Atom feeds carry, newest first.
feed_size = 100
# An issue of more papers is shown on pages of this many, light on a phone (its first
# page is still issues/<id>.html); 0 puts every new issue on one page. Each issue keeps
# the size it was published with, so its links never move.
papers_per_page = 50
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
# Gmail and Yahoo expect bulk mail to say how to unsubscribe (List-Unsubscribe); an
# https URL that unsubscribes on a POST makes it one click (RFC 8058), or a mailto: address.
# list_unsubscribe = "https://example.org/unsubscribe?list=digest"
# send_after_run = false

# Sections, in order: a paper goes in the first whose phrases it contains (word
# boundaries, any case); the rest go in "Other".
# [[sections]]
# name = "Diffusion"
# match = ["diffusion", "score-based"]
# fields = ["title", "abstract"]     # also "organization", "authors", "keywords"
# keywords = ["agents"]              # from the API's JSON: whole keywords, authors, organizations
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

# The listing, fetched from the Hugging Face Daily Papers API into the inbox (by
# 'digest fetch', and by the daemon before each run when this section is present):
# [fetch]
# contact = "you@example.org"    # in the User-Agent: whom the API's operators can ask
# days_back = 3                  # where a first fetch starts

# [schedule]
# cron = "0 8 * * mon"           # every Monday at 08:00
# timezone = "Europe/Berlin"     # default: this machine's
# every = "6h"                   # instead of cron
# misfire_grace = "6h"           # a run missed by less than this still happens
"""

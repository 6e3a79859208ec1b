"""What the API's JSON adds to a paper, as every output writes it: the first authors, the
paper's Hugging Face page, its code with stars, its project page, the listing's AI
summary. A text listing has none of these, and its papers render exactly as before.

The AI summary is the listing's own, made by Hugging Face's model: it is never shown as
the abstract, always under a label that says whose it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from digest.model import Paper

AUTHORS_SHOWN = 3  # names before "et al."
AI_SUMMARY_LABEL = "AI summary (the listing's, not the authors')"
HF_PAPERS = "https://huggingface.co/papers/"


@dataclass(frozen=True, slots=True)
class ListingLink:
    """A link the listing gives besides those in the abstract: ``kind`` says what it is
    ("Hugging Face", "code", "project page"), ``note`` what else is known (its stars)."""

    kind: str
    url: str
    note: str = ""


def authors_text(paper: Paper) -> str:
    """``Ada Lovelace, Alan Turing, Grace Hopper et al.``: the first names the listing
    gives, or "" when it gives none."""
    names = paper.details.author_names if paper.details is not None else ()
    if not names:
        return ""
    shown = ", ".join(names[:AUTHORS_SHOWN])
    return shown + (" et al." if len(names) > AUTHORS_SHOWN else "")


def comments_text(paper: Paper) -> str:
    comments = paper.details.comments if paper.details is not None else None
    if comments is None:
        return ""
    return f"{comments:,} comment" + ("" if comments == 1 else "s")


def listing_links(paper: Paper) -> list[ListingLink]:
    """The paper's page on Hugging Face, its code and project page, as the listing names
    them; a URL the abstract holds already is not listed twice."""
    details = paper.details
    if details is None:
        return []
    found: list[ListingLink] = []
    if details.arxiv_id:
        found.append(ListingLink("Hugging Face", HF_PAPERS + details.arxiv_id))
    if details.github_repo:
        stars = details.github_stars
        note = "" if stars is None else f"★ {stars:,}"
        found.append(ListingLink("code", details.github_repo, note))
    if details.project_page:
        found.append(ListingLink("project page", details.project_page))
    return [link for link in found if link.url not in paper.links]


def ai_summary(paper: Paper) -> str:
    """The listing's AI summary, or "" (then outputs shorten the abstract themselves)."""
    return (paper.details.ai_summary or "") if paper.details is not None else ""

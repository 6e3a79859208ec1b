#!/usr/bin/env python3
"""Make a synthetic corpus of digest files from the seed digests (stdlib only).

Writes N files, NNN_<hash>.txt, each the header of a seed digest (with a date
that advances one day per file) followed by K papers, in one of the two seed
formats: bare (title and abstract paragraphs) or "Daily Papers" (title,
abstract and, for about 95% of papers, a metadata block such as
"  • 6 authors\\n·\\nNov 2, 2022 2" or "naver-ai NAVER AI Lab\\n·\\nJun 15, 2020").

Papers are the seed papers recombined. A new paper takes a seed's abstract and
either the seed's title (its first use) or a word-shuffled and/or suffixed
variant; new titles are unique under NFKC + casefold + punctuation-to-space.
From the second file on, round(K*F) papers per file repeat distinct papers of
earlier files, and about 1 in 8 repeats has its title's case or spacing
changed. Same arguments, same bytes. Prints a JSON summary on stdout.

  python3 make_corpus.py --seeds DIR --out DIR --files N --papers-per-file K \\
      --overlap F --seed S [--meta-fraction 0.4] [--start 2024-03-12]
"""

import argparse
import datetime as dt
import functools
import hashlib
import json
import random
import re
import sys
import unicodedata
from pathlib import Path

HEADER = ["new", "Get trending papers in your email inbox!", "Subscribe"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DATE_LINE = re.compile(r"(%s) \d{1,2}" % "|".join(MONTHS))
SUFFIXES = (": {a} {b}", " for {a} {b}", " ({a} {b})", " with {a} {b}", " via {a}")
NON_WORD = re.compile(r"[^\w]+")
VARIANTS = (str.lower, str.upper, str.title, lambda t: t.replace(" ", "  ", 1), lambda t: t + "  ")


@functools.lru_cache(maxsize=4096)
def key(title):
    """The strictest plausible normalised title: NFKC, casefold, words only."""
    t = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(NON_WORD.sub(" ", t).split())


def read_seeds(seed_dir):
    """Return (papers, organisations); a paper is (title, abstract, meta|None)."""
    papers, orgs, seen = [], [], set()
    for path in sorted(Path(seed_dir).glob("*.txt")):
        paras = path.read_text(encoding="utf-8").split("\n\n")
        i = next((n for n, p in enumerate(paras) if DATE_LINE.fullmatch(p)), -1) + 1
        while i + 1 < len(paras):
            title, abstract = paras[i].strip(), paras[i + 1].strip()
            meta = paras[i + 2] if i + 2 < len(paras) and "\n·\n" in paras[i + 2] else None
            i += 3 if meta else 2
            if meta and "authors" not in meta.split("\n")[0]:
                orgs.append(meta.split("\n")[0])
            if key(title) not in seen:
                seen.add(key(title))
                papers.append((title, abstract, meta))
    if not papers:
        sys.exit(f"no seed papers found in {seed_dir}")
    return papers, sorted(set(orgs))


def fake_meta(rng, orgs):
    who = rng.choice(orgs) if orgs and rng.random() < 0.03 else f"  • {rng.randint(1, 12)} authors"
    when = f"{rng.choice(MONTHS)} {rng.randint(1, 28)}"
    if rng.random() < 0.6:
        when += f", {rng.randint(2017, 2024)}"
    if rng.random() < 0.3:
        when += f" {rng.randint(1, 40)}"
    return f"{who}\n·\n{when}"


def fresh_title(rng, title, vocab, used):
    """The seed title on first use, else an unused shuffled/suffixed variant."""
    new = title
    while (k := key(new)) in used:
        words = title.split()
        if len(words) > 2 and rng.random() < 0.5:
            rng.shuffle(words)
            words[0] = words[0][:1].upper() + words[0][1:]
        suffix = rng.choice(SUFFIXES).format(a=rng.choice(vocab).capitalize(), b=rng.choice(vocab))
        new = " ".join(words) + suffix
    used.add(k)
    return new


def generate(seeds, orgs, args):
    rng = random.Random(args.seed)
    vocab = sorted(
        {w.lower() for t, _, _ in seeds for w in t.split() if w.isalpha() and len(w) > 3}
    )
    used, earlier = set(), []  # keys of every title so far; unique papers of earlier files
    start = dt.date.fromisoformat(args.start)
    for n in range(args.files):
        day = start + dt.timedelta(days=n)
        with_meta = rng.random() < args.meta_fraction
        head = (
            HEADER
            + (["Daily Papers"] if with_meta else [])
            + ["byAK and the research community", f"{MONTHS[day.month - 1]} {day.day}"]
        )
        n_rep = min(round(args.papers_per_file * args.overlap), len(earlier)) if n else 0
        repeats = [earlier[j] for j in rng.sample(range(len(earlier)), n_rep)]
        slots = [True] * n_rep + [False] * (args.papers_per_file - n_rep)
        rng.shuffle(slots)
        paras, new = list(head), []
        for is_repeat in slots:
            if is_repeat:
                title, abstract, meta = repeats.pop()
                if rng.random() < 0.125:
                    varied = rng.choice(VARIANTS)(title)
                    title = varied if key(varied) == key(title) else title
            else:
                s_title, abstract, meta = rng.choice(seeds)
                title = fresh_title(rng, s_title, vocab, used)
                meta = meta if meta and title == s_title else fake_meta(rng, orgs)
                new.append((title, abstract, meta))
            paras += [title, abstract]
            if with_meta and rng.random() < 0.95:
                paras.append(meta)
        earlier += new
        yield n, "\n\n".join(paras).encode("utf-8"), n_rep


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--files", type=int, required=True)
    ap.add_argument("--papers-per-file", type=int, required=True)
    ap.add_argument(
        "--overlap",
        type=float,
        default=0.2,
        help="fraction of each file repeated from earlier files",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--meta-fraction", type=float, default=0.4, help="share of files in the metadata format"
    )
    ap.add_argument("--start", default="2024-03-12", help="header date of the first file")
    args = ap.parse_args()
    if not 0 <= args.overlap <= 1 or args.files < 0 or args.papers_per_file < 1:
        ap.error("need 0 <= overlap <= 1, files >= 0, papers-per-file >= 1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.glob("*.txt")):
        ap.error(f"{out} already holds .txt files; use an empty directory")
    seeds, orgs = read_seeds(args.seeds)
    width = max(3, len(str(args.files - 1)))
    entries = repeats = size = 0
    for n, data, n_rep in generate(seeds, orgs, args):
        name = f"{n:0{width}d}_{hashlib.blake2b(data, digest_size=8).hexdigest()}.txt"
        (out / name).write_bytes(data)
        entries += args.papers_per_file
        repeats += n_rep
        size += len(data)
    print(
        json.dumps(
            {
                "files": args.files,
                "entries": entries,
                "unique_titles": entries - repeats,
                "repeated_entries": repeats,
                "bytes": size,
            }
        )
    )


if __name__ == "__main__":
    main()

"""Writes the hostile fixtures in this folder and ../hostile-expected.json (run again to regenerate).

Each file is either taken in (its papers counted) or rejected (a reason to find in the
message); none may stop the others, and none may be altered by a run.
"""

import codecs
import json
from pathlib import Path

HERE = Path(__file__).parent / "hostile"
HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nbyAK and the research community\n\n{date}\n\n"


def digest(date: str, *entries: str) -> str:
    return HEADER.format(date=date) + "\n\n".join(entries) + "\n"


def pair(n: int, tag: str) -> str:
    return (
        f"{tag} paper number {n}\n\nThe abstract of {tag} paper {n} says something. It ends well."
    )


files: dict[str, tuple[bytes, dict]] = {}


def add(name: str, data: bytes | str, **expected) -> None:
    files[name] = (data.encode("utf-8") if isinstance(data, str) else data, expected)


add("empty.txt", b"", rejected="empty file")
add("whitespace-only.txt", " \n\t\n\r\n   \n", rejected="empty file")
add("header-only.txt", HEADER.format(date="Oct 31"), rejected="no papers found")
add("binary.bin", bytes(range(256)) * 8, rejected="not UTF-8")
add(
    "nul-bytes.txt",
    b"\x00\x01\x02\x03\x04\x05" * 64 + b"\n\nTitle\n\nAbstract.",
    rejected="binary data",
)
add(
    "utf16-no-bom.txt",
    digest("Mar 2", pair(1, "utf16nobom")).encode("utf-16-le"),
    rejected="binary data",
)
add(
    "cp1252.txt",
    digest("Mar 2", "Caf\u00e9 \u201cquoted\u201d title\n\nAbstract \u2013 with a dash.").encode(
        "cp1252"
    ),
    rejected="not UTF-8",
)
add(
    "latin1.txt",
    digest("Mar 2", "Na\u00efve title\n\nAbstract \u00e9t\u00e9.").encode("latin-1"),
    rejected="not UTF-8",
)
add(
    "utf16-bom.txt",
    codecs.BOM_UTF16_LE + digest("Mar 3", pair(1, "utf16"), pair(2, "utf16")).encode("utf-16-le"),
    papers=2,
)
add(
    "utf8-bom-crlf.txt",
    codecs.BOM_UTF8
    + digest("Mar 3", pair(1, "crlf"), pair(2, "crlf")).replace("\n", "\r\n").encode(),
    papers=2,
)
add(
    "lone-cr.txt",
    digest("Mar 3", pair(1, "lonecr"), pair(2, "lonecr")).replace("\n", "\r"),
    papers=2,
)
add(
    "tabs-trailing-blank-lines.txt",
    digest(
        "Mar 3", pair(1, "tabs").replace("\n\n", "\t \n\n\n\n\n  \n"), pair(2, "tabs") + "\t  "
    ).rstrip("\n"),
    papers=2,
)
add(
    "cut-title-only.txt",
    digest("Mar 4", pair(1, "cut1"), pair(2, "cut1"), "A third paper whose abstract was lost"),
    papers=2,
    problems=["19:error"],
)
add(
    "cut-mid-sentence.txt",
    digest("Mar 4", pair(1, "cut2"), "cut2 paper two\n\nWe propose a method that"),
    papers=2,
    problems=["15:warning"],
)
add(
    "meta-missing-line.txt",
    digest(
        "Mar 4", pair(1, "meta"), "  • 3 authors\nMar 1, 2024 5", pair(2, "meta"), "·\nMar 2, 2024"
    ),
    papers=2,
    problems=["15:warning", "22:warning"],
)
add(
    "garbled-dates.txt",
    digest(
        "Mar 4",
        pair(1, "dates"),
        "  • 3 authors\n·\nFeb 30",
        pair(2, "dates"),
        "naver-ai NAVER AI Lab\n·\nFoo 12, 2024",
        pair(3, "dates"),
        "  • 1 authors\n·\nMar 2, 2024 7",
    ),
    papers=3,
    problems=["17:warning", "25:warning"],
)
add(
    "control-chars.txt",
    digest(
        "Mar 5",
        "Control\x00 chars\x1b[31m in a title\x0c\ufffe\n\nAn abstract with \x07bell, \x7fdel and \x85nel.",
    ).encode()
    + b"\n\nLone surrogate \xed\xa0\x80 title\n\nIts abstract \xed\xb0\x80 too.\n",
    papers=2,
    problems=["11:warning"],
)
add(
    "markup.txt",
    digest(
        "Mar 5",
        '<script>alert(1)</script> Script title\n\nClick <img src=x onerror=alert(2)> or <a href="javascript:alert(3)">here</a>.',
        "Links: javascript:alert(4) and data:text/html,<b>x</b>\n\nCDATA ]]> end, &amp; entity, &lt;tag&gt;, [md link](javascript:alert(5)) and ![i](data:x).",
        "<style>body{display:none}</style><iframe src=https://evil.example></iframe>\n\n"
        "<svg onload=alert(6)>, \"quotes\" & 'apostrophes', {{ jinja }} {% raw %} ${template} `code` **bold** _it_ # h.",
    ),
    papers=3,
)
add(
    "unicode.txt",
    digest(
        "Mar 6",
        "\u05e2\u05d1\u05e8\u05d9\u05ea \u0627\u0644\u0639\u0631\u0628\u064a\u0629 right-to-left title\n\n\u202eRTL override\u202c and \u200bzero\u200c-width\u200d joiners, \u2066isolates\u2069.",
        "Cafe\u0301 combining marks: e\u0301 a\u0308 \U0001f680\U0001f469\u200d\U0001f52c emoji\n\n\u6f22\u5b57\u3068\u304b\u306a CJK \ud55c\uad6d\uc5b4 text.",
        "Caf\u00e9 combining marks: \u00e9 \u00e4 \U0001f680\U0001f469\u200d\U0001f52c emoji\n\nThe same title in NFC: one paper with the one above.",
    ),
    papers=3,
    new=2,
)

expected = {}
for name, (data, outcome) in files.items():
    (HERE / name).write_bytes(data)
    expected[name] = outcome
(HERE.parent / "hostile-expected.json").write_text(
    json.dumps(expected, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
)
print(f"wrote {len(files)} fixtures to {HERE}")

"""Similarity: which submissions share code with each other, the solutions or numpyvae itself.

Winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003, the method behind MOSS) over
normalised tokens: every name becomes N, every number 0, every string S (so renaming variables
or changing constants hides nothing), comments and layout are dropped; each run of K tokens is
hashed and, in every window of W consecutive hashes, the smallest is kept as a fingerprint. Two
texts sharing a passage of at least K + W - 1 tokens share a fingerprint of it.

What the notebook hands out (the release's cells) is removed from every submission first, and
so is what many students share (a fingerprint in more than a tenth of the class): the one-line
answers every correct student writes the same way are no evidence. A pair is listed when the
shared fingerprints are at least `threshold` of the smaller side and at least MIN_SHARED.
Why not copydetect or MOSS: the first would add Jinja2 and Pygments to the install for the
same algorithm (and an HTML report), and reads whole files, not notebook cells less what was
handed out; MOSS is a web service, and submissions must not leave the machine.
"""

from __future__ import annotations

import io
import keyword
import tokenize
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

K, W = 12, 6
MIN_SHARED = 6
COMMON = 0.1  # a fingerprint in more than this share of the class is ignored
MAX_CODE = 1_000_000  # characters of a submission compared (the rest is not read)


@dataclass(frozen=True)
class Pair:
    """Two texts that share code: their names, the score (0 to 1) and the fingerprints shared."""

    a: str
    b: str
    score: float
    shared: int


def tokens(source: str) -> list[str]:
    """The normalised tokens of Python `source` (the rest of a cell that does not tokenize)."""
    out: list[str] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.NAME:
                out.append(tok.string if keyword.iskeyword(tok.string) else "N")
            elif tok.type == tokenize.NUMBER:
                out.append("0")
            elif tok.type == tokenize.STRING:
                out.append("S")
            elif tok.type == tokenize.OP:
                out.append(tok.string)
    except (tokenize.TokenError, SyntaxError, ValueError, RecursionError):
        pass
    return out


def fingerprints(source: str) -> set[int]:
    """The winnowed fingerprints of `source`."""
    toks = tokens(source)
    hashes = [zlib.crc32(" ".join(toks[i : i + K]).encode()) for i in range(len(toks) - K + 1)]
    if len(hashes) <= W:
        return set(hashes)
    return {min(hashes[i : i + W]) for i in range(len(hashes) - W + 1)}


def compare(
    submissions: Mapping[str, str],
    references: Mapping[str, str],
    handed_out: str,
    threshold: float,
) -> list[Pair]:
    """Pairs above `threshold`: submission with submission, and submission with reference.

    `submissions` and `references` map a name to its code; `handed_out` is the code every
    student received (the release's notebooks), which counts for nobody.
    """
    given = fingerprints(handed_out)
    prints = {name: fingerprints(code) - given for name, code in submissions.items()}
    counts = Counter(f for fp in prints.values() for f in fp)
    limit = max(2, COMMON * len(prints))
    common = {f for f, n in counts.items() if n > limit}
    prints = {name: fp - common for name, fp in prints.items()}
    refs = {name: fingerprints(code) - given - common for name, code in references.items()}
    pairs = []
    names = sorted(prints)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            pairs.append(_pair(a, prints[a], b, prints[b]))
        for ref, fp in refs.items():
            pairs.append(_pair(a, prints[a], ref, fp, own_side=True))
    found = [p for p in pairs if p.score >= threshold and p.shared >= MIN_SHARED]
    return sorted(found, key=lambda p: (-p.score, p.a, p.b))


def _pair(a: str, fa: set[int], b: str, fb: set[int], own_side: bool = False) -> Pair:
    """The pair's score: shared over the smaller side (over a's side for a reference)."""
    shared = len(fa & fb)
    base = len(fa) if own_side else min(len(fa), len(fb))
    return Pair(a, b, round(shared / base, 3) if base else 0.0, shared)

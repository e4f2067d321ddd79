"""An explanation as the API answers it, from what a model's ``explain`` signature
computed (``worker/training/explain.py`` says how, and what the numbers mean).

The signature gives every token it scored (a word, or a pair or triple of words) by
word index; here they are put back on the text: each word's span of characters, the
tokens that moved the score most (a token's occurrences summed), and each word's
share (an n-gram's contribution split equally between its words), for highlighting.
No TensorFlow here.
"""

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

# The words as the model's standardization finds them (``worker/training/text.py``):
# runs of letters and digits, with HTML line breaks taken out first.
_WORD_OR_BREAK = re.compile(r"<br\s*/?>|[^\W_]+", re.IGNORECASE)


@dataclass(frozen=True)
class Span:
    """Where a token is: its first word's index, and its characters (``text[start:end]``;
    None where the text's words could not be placed, see ``word_spans``)."""

    word: int
    start: int | None
    end: int | None


@dataclass(frozen=True)
class TokenShare:
    token: str
    contribution: float
    spans: list[Span]


@dataclass(frozen=True)
class WordShare:
    word: int
    start: int | None
    end: int | None
    contribution: float


@dataclass(frozen=True)
class Explanation:
    method: str
    base_value: float
    logit: float
    probability: float
    tokens: list[TokenShare]  # the top ones, by the size of their contribution
    other: float  # the other tokens' contributions, summed
    words: list[WordShare]  # every word the model read, in order


def word_spans(text: str, word_count: int) -> list[tuple[int, int]] | None:
    """Each word's characters in ``text``, in order; None when they do not match the
    model's count (a character whose lowercase is two, like 'İ', splits differently)."""
    spans = [
        match.span() for match in _WORD_OR_BREAK.finditer(text) if not match[0].startswith("<")
    ]
    return spans if len(spans) == word_count else None


def explanation(text: str, computed: dict[str, Any], top: int) -> Explanation:
    """One text's explanation from its row of the signature's outputs (as Python values:
    lists for the per-token outputs, numbers and strings for the rest)."""
    spans = word_spans(text, computed["word_count"])

    def span(first: int, width: int) -> Span:
        if spans is None:
            return Span(first, None, None)
        return Span(first, spans[first][0], spans[first + width - 1][1])

    by_token: dict[str, list[tuple[float, Span]]] = defaultdict(list)
    by_word: dict[int, float] = defaultdict(float)
    rows = zip(
        computed["tokens"],
        computed["starts"],
        computed["widths"],
        computed["contributions"],
        strict=True,
    )
    for token, first, width, contribution in rows:
        if width <= 0:
            break  # the padding past the row's end
        by_token[token].append((contribution, span(first, width)))
        for word in range(first, first + width):
            by_word[word] += contribution / width
    shares = sorted(
        (TokenShare(token, sum(c for c, _ in found), [s for _, s in found])
         for token, found in by_token.items()),
        key=lambda share: -abs(share.contribution),
    )  # fmt: skip
    words = []
    for word, share in sorted(by_word.items()):
        start, end = spans[word] if spans else (None, None)
        words.append(WordShare(word, start, end, share))
    kept = shares[:top]
    return Explanation(
        method=computed["method"],
        base_value=computed["base_value"],
        logit=computed["logit"],
        probability=computed["probability"],
        tokens=kept,
        other=sum(share.contribution for share in shares[top:]),
        words=words,
    )

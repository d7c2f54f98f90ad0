"""text-stats: counts, reading time, most frequent words and readability of a text.

Entry style: ``async def execute(input_data)`` — one argument, no context — returning a
plain JSON object. The engine awaits it on its event loop (or in the child's loop).

Readability is the Flesch reading ease (206.835 - 1.015 * words/sentence - 84.6 * syllables/word,
higher is easier; 60-70 is plain English) and the Flesch-Kincaid grade level. Syllables are
estimated with the usual vowel-group heuristic, which is good to within a few percent on
English prose; other languages get the counts but no meaningful readability.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

_STOP_WORDS_TEXT = """
    a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do
    does doesn't doing don't down during each few for from further had hadn't has hasn't
    have haven't having he he'd he'll he's her here here's hers herself him himself his how
    how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most
    mustn't my myself no nor not of off on once only or other ought our ours ourselves out
    over own same shan't she she'd she'll she's should shouldn't so some such than that
    that's the their theirs them themselves then there there's these they they'd they'll
    they're they've this those through to too under until up very was wasn't we we'd we'll
    we're we've were weren't what what's when when's where where's which while who who's
    whom why why's will with won't would wouldn't you you'd you'll you're you've your yours
    yourself yourselves also just may might must shall us
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_CLOSERS = r"[\"'\u201d\u2019)\]]*"  # closing quotes and brackets after the full stop
_SENTENCE_END = re.compile(r"[.!?\u2026]+" + _CLOSERS + r"(?=\s|$)|[\u3002\uff01\uff1f]+")
_VOWEL_GROUPS = re.compile(r"[aeiouy]+")


async def execute(input_data: dict[str, Any]) -> dict[str, Any]:
    text = str(input_data.get("text", ""))
    top_n = int(input_data.get("top_n", 10))
    wpm = int(input_data.get("words_per_minute", 238))
    keep_stop_words = bool(input_data.get("include_stop_words", False))
    min_length = int(input_data.get("min_word_length", 1))

    words = [w.replace("\u2019", "'") for w in _WORD.findall(text)]
    lowered = [w.lower() for w in words]
    sentences = _count_sentences(text, len(words))
    paragraphs = len([p for p in re.split(r"\n\s*\n", text) if p.strip()])
    syllables = sum(count_syllables(w) for w in lowered)

    candidates = [
        w for w in lowered
        if len(w) >= min_length and not w.isdigit()
        and (keep_stop_words or w not in STOP_WORDS)
    ]
    top = Counter(candidates).most_common(top_n)

    n_words = len(words)
    reading_s = round(n_words / wpm * 60) if n_words else 0
    result: dict[str, Any] = {
        "characters": len(text),
        "characters_no_spaces": len(re.sub(r"\s", "", text)),
        "words": n_words,
        "unique_words": len(set(lowered)),
        "sentences": sentences,
        "paragraphs": paragraphs,
        "syllables": syllables,
        "avg_word_length": round(sum(map(len, words)) / n_words, 2) if n_words else 0.0,
        "avg_sentence_length": round(n_words / sentences, 2) if sentences else 0.0,
        "reading_time_s": reading_s,
        "reading_time": _duration(reading_s),
        "flesch_reading_ease": None,
        "flesch_kincaid_grade": None,
        "readability": None,
        "top_words": [{"word": w, "count": c} for w, c in top],
    }
    if n_words and sentences:
        wps = n_words / sentences
        spw = syllables / n_words
        ease = round(206.835 - 1.015 * wps - 84.6 * spw, 1)
        result["flesch_reading_ease"] = ease
        result["flesch_kincaid_grade"] = round(0.39 * wps + 11.8 * spw - 15.59, 1)
        result["readability"] = _ease_label(ease)
    return result


def _count_sentences(text: str, n_words: int) -> int:
    if n_words == 0:
        return 0
    ends = len(_SENTENCE_END.findall(text.strip()))
    # Text whose last sentence has no final punctuation still ends a sentence.
    trailing = 0 if re.search(r"[.!?\u2026\u3002\uff01\uff1f]" + _CLOSERS + r"\s*$", text) else 1
    return max(1, ends + trailing)


def count_syllables(word: str) -> int:
    word = re.sub(r"[^a-z]", "", word.lower())
    if not word:
        return 1  # numbers and non-Latin words: count one, like most implementations
    if len(word) <= 3:
        return 1
    word = re.sub(r"(?:[^laeiouy]es|ed|[^laeiouy]e)$", "", word)
    word = re.sub(r"^y", "", word)
    return max(1, len(_VOWEL_GROUPS.findall(word)))


def _ease_label(score: float) -> str:
    for limit, label in (
        (90, "very easy"),
        (80, "easy"),
        (70, "fairly easy"),
        (60, "plain English"),
        (50, "fairly difficult"),
        (30, "difficult"),
    ):
        if score >= limit:
            return label
    return "very difficult"


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"

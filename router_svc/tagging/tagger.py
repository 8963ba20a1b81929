"""Skill taggers: a question in, the short skill keywords it needs out.

Three taggers fill in the ``SkillTagger`` protocol:

- ``LLMTagger`` asks a small instruct model (``smol-tagger``) several times under a GBNF
  grammar and keeps the keywords that enough samples agree on.
- ``EmbeddingTagger`` copies the tags of the most similar already-tagged validation questions.
- ``KeywordTagger`` takes TF-IDF content words; no model at all, for replay files with
  thousands of questions.

Every keyword goes through :func:`normalise_keyword`, so all taggers speak the same vocabulary.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Protocol, Self

import numpy as np

from router_svc.backends.base import Engine
from router_svc.errors import DataError
from router_svc.tagging.embedder import Embedder
from router_svc.tagging.sources import TaggerSources
from router_svc.types import Completion, GenerationRequest, Message

MAX_KEYWORD_CHARS = 40
"""A longer normalised keyword is a sentence, not a skill name, and is dropped (never cut)."""

_SEPARATORS = re.compile(r"[-_/\\]+")
_PUNCTUATION = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")


def normalise_keyword(text: str) -> str | None:
    """Lower case, no punctuation, single spaces; None if empty or over 40 characters."""
    text = _PUNCTUATION.sub("", _SEPARATORS.sub(" ", text.lower()))
    text = _SPACES.sub(" ", text).strip()
    return text if text and len(text) <= MAX_KEYWORD_CHARS else None


def normalise_keywords(texts: Iterable[str]) -> list[str]:
    """Normalised keywords in first-seen order, empty ones and repeats dropped."""
    return list(dict.fromkeys(k for k in map(normalise_keyword, texts) if k is not None))


class SkillTagger(Protocol):
    """Names the skills each question needs."""

    name: str

    async def tag(self, questions: Sequence[str]) -> list[list[str]]:
        """Normalised skill keywords for each question, in order."""
        ...


# --- LLM tagger ------------------------------------------------------------------------------

TAGGER_GRAMMAR = r"""
root ::= item (", " item){1,4}
item ::= word (" " word){0,2}
word ::= [a-z]{2,16}
"""
"""2-5 comma-separated lowercase items of 1-3 words (2-16 letters each)."""

TAGGER_SYSTEM = (
    "You name the skills a question needs. Reply with 2 to 5 short lowercase skill keywords, "
    "separated by commas: the subject first, then the topics and methods."
)

TAGGER_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Solve for x: 3x + 7 = 22.", "math, algebra, linear equations"),
    (
        "What is the pH of a 0.01 M solution of hydrochloric acid?",
        "chemistry, acids and bases, logarithms",
    ),
    (
        "Which organelle produces most of the ATP in a eukaryotic cell?",
        "biology, cell biology, cellular respiration",
    ),
    ("Which river flows through Cairo?", "geography, rivers, africa"),
    ("In which year did the Berlin Wall fall?", "history, cold war, europe"),
    ("What does this Python code print? print(len([1, 2, 3]) * 2)", "python, lists, code tracing"),
    (
        "A car accelerates from rest at 2 m/s^2 for 5 s. How far does it travel?",
        "physics, kinematics, arithmetic",
    ),
)


_OPTIONS = re.compile(r"\bthe options are\b\s*:?", re.IGNORECASE)
MAX_KEYWORD_WORDS = 4
_LABEL = re.compile(r"\b(?:key ?words?|skills|tags)\s*:", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"<[^<>\n]*>")
_ITEM_SPLIT = re.compile(r"[,;\n]")
_ITEM_LEAD = re.compile(
    r"^\s*(?:[-*\u2022\u00b7>#]+|\(?\d+[.)])?\s*(?:key ?words\b)?", re.IGNORECASE
)
_LETTER = re.compile(r"[^\W\d_]")


def tagger_messages(question: str) -> tuple[Message, ...]:
    """The few-shot chat the LLM tagger sends for one question."""
    messages = [Message("system", TAGGER_SYSTEM)]
    for user, assistant in TAGGER_EXAMPLES:
        messages += [Message("user", user), Message("assistant", assistant)]
    return (*messages, Message("user", question))


class LLMTagger:
    """Samples an expert several times and keeps the keywords that enough samples agree on.

    A keyword needs ``min_votes`` samples (capped at ``samples``); when none has that many the
    most frequent one is kept, so a question gets no tag only if every sample was empty.
    Multiple-choice options ("The options are: ...") are left out of the prompt by default.
    The GBNF grammar binds llama.cpp only (``grammar=False`` leaves it out); other engines
    ignore it, so the parser reads free text too: a "Keywords:" label, lines, bullets, numbers.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        samples: int = 5,
        temperature: float = 0.7,
        min_votes: int = 2,
        max_keywords: int = 5,
        seed: int = 0,
        max_tokens: int = 32,
        max_question_chars: int = 1000,
        strip_options: bool = True,
        grammar: bool = True,
    ) -> None:
        for label, value in (("samples", samples), ("min_votes", min_votes)):
            if value < 1:
                raise ValueError(f"{label} must be at least 1, not {value}")
        if max_keywords < 1:
            raise ValueError(f"max_keywords must be at least 1, not {max_keywords}")
        self.engine = engine
        self.name = f"llm:{engine.name}"
        self.samples = samples
        self.temperature = temperature
        self.min_votes = min(min_votes, samples)
        self.max_keywords = max_keywords
        self.seed = seed
        self.max_tokens = max_tokens
        self.max_question_chars = max_question_chars
        self.strip_options = strip_options
        self.grammar = grammar

    @classmethod
    def build(cls, sources: TaggerSources) -> Self | None:
        """The pool's ``tagger.expert`` sampled as configured; None when none is named."""
        config = sources.config
        if config.expert is None:
            return None
        return cls(
            sources.engine(config.expert),
            samples=config.samples,
            temperature=config.temperature,
            min_votes=config.min_votes,
        )

    async def tag(self, questions: Sequence[str]) -> list[list[str]]:
        """All samples of all questions go to the engine in one generate call."""
        tags, _ = await self.tag_counted(questions)
        return tags

    async def tag_counted(
        self, questions: Sequence[str]
    ) -> tuple[list[list[str]], list[Completion]]:
        """``tag``, and what each question's samples spent (their tokens and seconds summed)."""
        if not questions:
            return [], []
        requests = [self._request(q, i) for q in questions for i in range(self.samples)]
        completions = await self.engine.generate(requests)
        per_question = [
            completions[start : start + self.samples]
            for start in range(0, len(completions), self.samples)
        ]
        tags = [self._vote([_parse(c) for c in group]) for group in per_question]
        return tags, [_spent(group, self.engine.name) for group in per_question]

    def _request(self, question: str, sample: int) -> GenerationRequest:
        return GenerationRequest(
            messages=tagger_messages(self._stem(question)),
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            seed=self.seed + sample,
            grammar=TAGGER_GRAMMAR if self.grammar else None,
            use_system_prompt=False,
        )

    def _stem(self, question: str) -> str:
        """The question without its multiple-choice options, which distract a small model."""
        stem = _OPTIONS.split(question, maxsplit=1)[0] if self.strip_options else question
        return (stem.strip() or question.strip())[: self.max_question_chars]

    def _vote(self, samples: list[list[str]]) -> list[str]:
        votes = Counter(keyword for keywords in samples for keyword in keywords)
        if not votes:
            return []
        ranked = [keyword for keyword, _ in votes.most_common()]  # ties: first seen
        kept = [keyword for keyword in ranked if votes[keyword] >= self.min_votes]
        return (kept or ranked[:1])[: self.max_keywords]


def _spent(completions: Sequence[Completion], expert: str) -> Completion:
    """One completion holding the tokens and seconds of ``completions`` (no text)."""
    return Completion(
        text="",
        prompt_tokens=sum(c.prompt_tokens for c in completions),
        completion_tokens=sum(c.completion_tokens for c in completions),
        seconds=sum(c.seconds for c in completions),
        expert=expert,
    )


async def tag_counted(
    tagger: SkillTagger, questions: Sequence[str]
) -> tuple[list[list[str]], list[Completion | None]]:
    """The tags of ``questions`` and what the tagger spent on each (None: it runs no model)."""
    if isinstance(tagger, LLMTagger):
        tags, spent = await tagger.tag_counted(questions)
        return tags, list(spent)
    return await tagger.tag(questions), [None] * len(questions)


def _parse(completion: Completion) -> list[str]:
    return parse_keywords(completion.text, truncated=completion.finish_reason == "length")


def parse_keywords(text: str, *, truncated: bool = False) -> list[str]:
    """The keywords of one sample, with or without the grammar.

    Text after the last "Keywords:" label is read (all of it when there is none), split at
    commas, semicolons and line ends; bullets, numbering, quotes and <placeholders> go, and an
    item that is a sentence (over 4 words), a "label: value" pair or has no letter is dropped.
    A list cut off by max_tokens (``truncated``) loses its partial last item.
    """
    labels = list(_LABEL.finditer(text))
    if labels:
        text = text[labels[-1].end() :]
    items = _ITEM_SPLIT.split(_PLACEHOLDER.sub("", text))
    if truncated and len(items) > 1:
        items = items[:-1]
    return normalise_keywords(item for item in map(_keyword_item, items) if item)


def _keyword_item(item: str) -> str | None:
    item = _ITEM_LEAD.sub("", item).strip()
    if ":" in item or len(item.split()) > MAX_KEYWORD_WORDS or not _LETTER.search(item):
        return None
    return item


# --- embedding tagger ------------------------------------------------------------------------


INLINE_QUESTIONS = 8
"""Questions an ``inline`` embedding tagger tags without leaving the event loop."""


class EmbeddingTagger:
    """Tags a question with the tags of its nearest reference questions, no LLM call.

    Each of the ``neighbours`` most similar reference questions votes for its tags with weight
    ``exp((similarity - best) / temperature)``, so a near-duplicate outvotes loose matches; a
    tag is kept when it has at least ``min_share`` of the total weight (the top tag always).

    ``inline``: tag a few questions (a routed request) on the event loop's thread, for an
    embedder that takes well under a millisecond per text (the static model, hashing): handing
    them to a worker thread cost more than embedding them. Larger batches, and a transformer
    embedder, always run on a worker thread.
    """

    def __init__(
        self,
        embedder: Embedder,
        reference_questions: Sequence[str],
        reference_tags: Sequence[Sequence[str]],
        *,
        neighbours: int = 5,
        max_keywords: int = 5,
        temperature: float = 0.1,
        min_share: float = 0.5,
        inline: bool = False,
    ) -> None:
        if len(reference_questions) != len(reference_tags):
            counts = f"{len(reference_questions)} reference questions but {len(reference_tags)}"
            raise ValueError(f"{counts} tag lists")
        if neighbours < 1 or max_keywords < 1 or temperature <= 0:
            raise ValueError("neighbours and max_keywords must be >= 1 and temperature > 0")
        pairs = [
            (question, tags)
            for question, raw in zip(reference_questions, reference_tags, strict=True)
            if (tags := normalise_keywords(raw))
        ]
        if not pairs:
            raise DataError("no reference question has skill tags; tag the validation set first")
        self.embedder = embedder
        self.name = f"embedding:{embedder.name}"
        self.reference_questions = [question for question, _ in pairs]
        self.reference_tags = [tags for _, tags in pairs]
        self.neighbours = min(neighbours, len(pairs))
        self.max_keywords = max_keywords
        self.temperature = temperature
        self.min_share = min_share
        self.inline = inline
        self._vectors: np.ndarray | None = None

    @classmethod
    def build(cls, sources: TaggerSources) -> Self:
        """The profile's tagged questions as references, ``tagger.neighbours`` of them voting."""
        return cls(
            sources.embedder,
            sources.questions,
            sources.tags,
            neighbours=sources.config.neighbours,
            inline=sources.inline,
        )

    async def tag(self, questions: Sequence[str]) -> list[list[str]]:
        if self.inline and self._vectors is not None and len(questions) <= INLINE_QUESTIONS:
            return self.tag_sync(questions)
        return await asyncio.to_thread(self.tag_sync, questions)

    def tag_sync(self, questions: Sequence[str]) -> list[list[str]]:
        """``tag`` without the event loop: one embed call, one matrix product."""
        if not questions:
            return []
        if self._vectors is None:
            self._vectors = self.embedder.embed(self.reference_questions, kind="query")
        similarities = self.embedder.embed(questions, kind="query") @ self._vectors.T
        k = self.neighbours
        rows = np.argpartition(-similarities, k - 1, axis=1)[:, :k]
        nearest = np.take_along_axis(similarities, rows, axis=1)
        weights = np.exp((nearest - nearest.max(axis=1, keepdims=True)) / self.temperature)
        return [self._vote(r, w) for r, w in zip(rows.tolist(), weights.tolist(), strict=True)]

    def _vote(self, rows: list[int], weights: list[float]) -> list[str]:
        scores: dict[str, float] = {}
        for row, weight in sorted(zip(rows, weights, strict=True), key=lambda rw: -rw[1]):
            for keyword in self.reference_tags[row]:
                scores[keyword] = scores.get(keyword, 0.0) + weight
        floor = self.min_share * sum(weights)
        ranked = sorted(scores.items(), key=lambda item: -item[1])  # stable: ties keep order
        kept = [keyword for keyword, score in ranked if score >= floor] or [ranked[0][0]]
        return kept[: self.max_keywords]


# --- keyword tagger --------------------------------------------------------------------------

_STOPWORD_TEXT = """
    a about above according across after again against all almost along already also although
    always am among an and another any anything are around as at be became because become been
    before being below best between both but by called can cannot certain could did do does
    doing done down during each either else enough etc even ever every few find first following
    for from further get given gives go had has have having he her here hers him his how however
    i if in into is it its itself just least less let like likely made make many may me might
    more most much must my near need needs neither never next no nor not now of off often on
    once one only or other others otherwise our out over own per possible rather really same
    second several shall she should show shown since so some something still such than that the
    their them then there therefore these they third this those though three through thus to
    together too true false two under until up upon us use used uses using usually very was we
    were what whatever when where whether which while who whom whose why will with within
    without would yes yet you your answer answers choose choice correct describe describes
    described determine following option options question questions select statement statements
    suppose approximately calculate compute consider estimate explain identify known year years
    happen happened begin began end ended ii iii iv vi"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_SYMBOLS = (  # arithmetic between numbers is a skill even though numbers are not keywords
    (re.compile(r"\d\s*\+\s*\d"), "addition"),
    (re.compile(r"\d\s+[-\u2212]\s+\d"), "subtraction"),
    (re.compile(r"\d\s*[*\u00d7]\s*\d"), "multiplication"),
    (re.compile(r"\d\s*(?://?|\u00f7)\s*\d"), "division"),
    (re.compile(r"\d\s*%(?!\s*\d)"), "percent"),
)

_BOILERPLATE = re.compile(r"the options are\s*:?|\([a-j]\)|\banswer\s*:", re.IGNORECASE)
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[^\sa-z]")


def _runs(text: str) -> list[list[str]]:
    """Runs of adjacent content words (stopwords, numbers, punctuation break a run) and the
    words for arithmetic symbols, each a run of its own."""
    runs: list[list[str]] = [[word] for pattern, word in _SYMBOLS if pattern.search(text)]
    runs.append([])
    for token in _TOKEN.findall(_BOILERPLATE.sub(" . ", text.lower())):
        word = token.removesuffix("'s")
        if len(word) > 1 and word.isalpha() and word not in STOPWORDS:
            runs[-1].append(word)
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


class KeywordTagger:
    """TF-IDF content keywords (unigrams and bigrams) with IDF from a reference corpus.

    Terms found in fewer than ``min_df`` reference questions, or in more than a ``max_df``
    share of them, are skipped (unless nothing else is left), so the tags are the topic words
    that recur across related questions, not one-offs or boilerplate. A plural merges into its
    singular when the reference corpus has both ("equations" -> "equation").
    """

    name = "keyword"

    def __init__(
        self,
        reference_questions: Sequence[str],
        *,
        max_keywords: int = 3,
        min_df: int = 2,
        max_df: float = 0.2,
    ) -> None:
        if max_keywords < 1:
            raise ValueError(f"max_keywords must be at least 1, not {max_keywords}")
        self.max_keywords = max_keywords
        self.min_df = min_df
        corpus = [_runs(question) for question in reference_questions]
        words = {word for runs in corpus for run in runs for word in run}
        self._singular = {
            word: word[:-1]
            for word in words
            if len(word) > 3 and word.endswith("s") and not word.endswith("ss")
            if word[:-1] in words
        }
        self._df = Counter(term for runs in corpus for term in set(self._terms(runs)))
        self._documents = len(corpus)
        self._df_range = range(min_df, max(min_df, int(max_df * len(corpus))) + 1)

    @classmethod
    def build(cls, sources: TaggerSources) -> Self:
        """IDF from the profile's questions."""
        return cls(sources.questions)

    async def tag(self, questions: Sequence[str]) -> list[list[str]]:
        return await asyncio.to_thread(self.tag_sync, questions)

    def tag_sync(self, questions: Sequence[str]) -> list[list[str]]:
        """``tag`` without the event loop."""
        return [self._keywords(question) for question in questions]

    def _terms(self, runs: list[list[str]]) -> list[str]:
        terms: list[str] = []
        for run in runs:
            run = [self._singular.get(word, word) for word in run]
            terms += run
            terms += [f"{first} {second}" for first, second in itertools.pairwise(run)]
        return terms

    def _keywords(self, question: str) -> list[str]:
        """Keywords of the question's stem; of the options too when the stem has none."""
        stem = _OPTIONS.split(question, maxsplit=1)[0]
        return self._ranked(stem) or (self._ranked(question) if stem != question else [])

    def _ranked(self, text: str) -> list[str]:
        counts = Counter(self._terms(_runs(text)))
        scored = sorted(  # best first; on a tie the bigram, the more specific term
            ((self._score(term, count), " " in term, term) for term, count in counts.items()),
            reverse=True,
        )
        shared = [term for *_, term in scored if self._df[term] in self._df_range]
        return self._distinct(shared or [term for *_, term in scored[:1]])

    def _score(self, term: str, count: int) -> float:
        idf = math.log((1 + self._documents) / (1 + self._df[term])) + 1.0
        return round((1.0 + math.log(count)) * idf, 9)

    def _distinct(self, terms: list[str]) -> list[str]:
        """The best terms, skipping any that repeats a word of a term already taken."""
        kept: list[str] = []
        seen: set[str] = set()
        for term in terms:
            keyword = normalise_keyword(term)
            words = set(term.split())
            if keyword is None or words & seen or keyword in kept:
                continue
            kept.append(keyword)
            seen |= words
            if len(kept) == self.max_keywords:
                break
        return kept

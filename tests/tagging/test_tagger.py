"""Skill taggers: keyword normalisation, the LLM tagger on real SmolLM2, the embedding tagger on
real MiniLM and the model-free keyword tagger."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from router_svc.backends.base import Engine, EngineContext
from router_svc.backends.llamacpp import LlamaCppEngine
from router_svc.config.pool import PoolConfig
from router_svc.errors import DataError
from router_svc.tagging.embedder import EmbeddingKind, SentenceTransformerEmbedder
from router_svc.tagging.hashing import HashingEmbedder
from router_svc.tagging.tagger import (
    TAGGER_GRAMMAR,
    EmbeddingTagger,
    KeywordTagger,
    LLMTagger,
    SkillTagger,
    normalise_keyword,
    normalise_keywords,
    parse_keywords,
)
from router_svc.types import Completion, GenerationRequest, Message

ITEM = r"[a-z]{2,16}(?: [a-z]{2,16}){0,2}"
GRAMMAR_OUTPUT = re.compile(rf"{ITEM}(?:, {ITEM}){{1,4}}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Algebra", "algebra"),
        ("  Linear   Equations ", "linear equations"),
        ("acids & bases!", "acids bases"),
        ("step-by-step", "step by step"),
        ("Newton's laws", "newtons laws"),
        ("cell_biology/dna", "cell biology dna"),
        ("differential equations", "differential equations"),  # never cut
        ("Conservation of Energy", "conservation of energy"),
        ("electroencephalography", "electroencephalography"),
        ("forty characters make a keyword too long", "forty characters make a keyword too long"),
        ("forty-one characters make a keyword too long", None),  # a sentence: dropped whole
        ("Python 3", "python 3"),
        ("...", None),
        ("", None),
        ("   ", None),
    ],
)
def test_normalise_keyword(text: str, expected: str | None) -> None:
    assert normalise_keyword(text) == expected


def test_normalise_keywords_drops_empties_and_repeats() -> None:
    assert normalise_keywords(["Math", "math!", "", "Geometry", "..."]) == ["math", "geometry"]


async def test_every_tagger_speaks_the_normalised_vocabulary(
    pool: PoolConfig, minilm: SentenceTransformerEmbedder
) -> None:
    """Raw keywords from a model, a reference set or a question all come out normalised."""
    questions = ["What is Newton's Second Law?", "Balance: H2 + O2 -> H2O (Acid-Base?)"]
    llm = LLMTagger(ScriptedEngine(pool, [("Newton's Laws, PHYSICS", "stop")] * 4), samples=2)
    embedding = EmbeddingTagger(minilm, questions, [["Newton's Laws!"], ["Acid-Base", "  "]])
    keyword = KeywordTagger(questions * 2, min_df=1, max_df=1.0)
    tags = {tagger.name: await tagger.tag(questions) for tagger in (llm, embedding, keyword)}
    for name, per_question in tags.items():
        assert len(per_question) == 2, name
        for raw in (k for keywords in per_question for k in keywords):
            assert normalise_keyword(raw) == raw, (name, raw)
    assert tags[llm.name][0] == ["newtons laws", "physics"]
    assert tags[embedding.name] == [["newtons laws"], ["acid base"]]
    assert "newton" in tags[keyword.name][0]


# --- LLM tagger: voting rules on a scripted engine ---------------------------------------------


class ScriptedEngine(Engine):
    """Returns prepared texts in order: pure voting logic only, never a backend test."""

    def __init__(self, pool: PoolConfig, texts: Sequence[tuple[str, str]]) -> None:
        super().__init__(pool.expert("smol-tagger"))
        self.texts = list(texts)
        self.calls: list[list[GenerationRequest]] = []

    async def _load(self) -> None:
        pass

    async def _unload(self) -> None:
        pass

    async def _generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        self.calls.append(requests)
        return [Completion(text, 1, 1, 0.0, finish_reason=reason) for text, reason in self.texts]


async def test_llm_votes_need_min_votes_in_one_generate_call(pool: PoolConfig) -> None:
    engine = ScriptedEngine(
        pool,
        [
            *[("Math, algebra", "stop"), ("math, geometry", "stop"), ("algebra, math", "stop")],
            *[("chemistry, atoms", "stop"), ("physics, atoms", "stop"), ("biology, cells", "stop")],
        ],
    )
    tagger = LLMTagger(engine, samples=3, min_votes=2, seed=7)
    question = "What is 2x = 4? The options are: (A) 1 (B) 2"
    assert await tagger.tag([question, "What is an atom?"]) == [["math", "algebra"], ["atoms"]]
    (requests,) = engine.calls  # all 6 samples in one call
    assert [r.seed for r in requests] == [7, 8, 9, 7, 8, 9]
    assert {r.temperature for r in requests} == {0.7}
    assert all(r.grammar == TAGGER_GRAMMAR and not r.use_system_prompt for r in requests)
    assert requests[0].messages[-1].content == "What is 2x = 4?"  # options stripped
    assert requests[0].messages[0].role == "system"
    assert tagger.name == "llm:smol-tagger"


async def test_llm_without_agreement_keeps_the_most_frequent(pool: PoolConfig) -> None:
    texts = [("history, rome", "stop"), ("rome", "stop"), ("empire, ancient history", "stop")]
    engine = ScriptedEngine(pool, texts)
    assert await LLMTagger(engine, samples=3, min_votes=3).tag(["Who was Caesar?"]) == [["rome"]]


async def test_llm_truncated_samples_lose_the_partial_item(pool: PoolConfig) -> None:
    texts = [("math, algebra, geome", "length"), ("math, algebra, geome", "length"), ("", "stop")]
    engine = ScriptedEngine(pool, texts)
    assert await LLMTagger(engine, samples=3).tag(["Solve x + 1 = 2"]) == [["math", "algebra"]]


async def test_llm_empty_samples_give_no_tags(pool: PoolConfig) -> None:
    engine = ScriptedEngine(pool, [("", "stop"), ("", "stop")])
    assert await LLMTagger(engine, samples=2).tag(["?"]) == [[]]
    assert await LLMTagger(engine, samples=2).tag([]) == []


async def test_llm_caps_keywords(pool: PoolConfig) -> None:
    engine = ScriptedEngine(pool, [("a1 b1, c1 d1, e1 f1, g1 h1", "stop")] * 2)
    # digits never pass the real grammar; the scripted texts only test the cap
    (tags,) = await LLMTagger(engine, samples=2, max_keywords=3).tag(["q"])
    assert tags == ["a1 b1", "c1 d1", "e1 f1"]


# SmolLM2-135M generations made without the grammar (temperature 0.7), kept verbatim; the
# last one is written by hand (bullets and quotes).
UNGRAMMATICAL = [
    ("Keywords: chemistry, elements, carbon dioxide", "stop"),
    (
        "1. Chemistry\n2. Chemistry\n3. Science\n4. Chemistry\n5. Science\n\nYou have listed 5 "
        "keywords, and the first 2 keywords are not listed. The list is a mix of keywords that "
        "are not",
        "length",
    ),
    (
        "The core knowledge needed to solve this problem is: Keywords: <keywords1>, <keywords2>",
        "stop",
    ),
    (
        "The question is about the longest coastline in the world, which is located in the "
        "Mediterranean Sea.",
        "stop",
    ),
    (
        "The answer is: 2-5. Keywords: conservation of energy, energy balance, weight, speed, "
        "weight of ball, weight of ball, velocity, velocity of ball, weight of ball, velocity of "
        "ball, weight of ball",
        "length",
    ),
    ("- \"Physics\"\n- 'Mechanics'\n* Energy", "stop"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (UNGRAMMATICAL[0], ["chemistry", "elements", "carbon dioxide"]),
        (UNGRAMMATICAL[1], ["chemistry", "science"]),
        (UNGRAMMATICAL[2], []),
        (UNGRAMMATICAL[3], []),
        (
            UNGRAMMATICAL[4],
            [
                *["conservation of energy", "energy balance", "weight", "speed"],
                *["weight of ball", "velocity", "velocity of ball"],
            ],
        ),
        (UNGRAMMATICAL[5], ["physics", "mechanics", "energy"]),
        (("keywords math, algebra", "stop"), ["math", "algebra"]),  # what the grammar allows
    ],
)
async def test_llm_parses_output_made_without_a_grammar(
    pool: PoolConfig, text: tuple[str, str], expected: list[str]
) -> None:
    engine = ScriptedEngine(pool, [text])
    (tags,) = await LLMTagger(engine, samples=1, max_keywords=10).tag(["q"])
    assert tags == expected


def test_llm_rejects_bad_arguments(pool: PoolConfig) -> None:
    engine = ScriptedEngine(pool, [])
    with pytest.raises(ValueError, match="samples"):
        LLMTagger(engine, samples=0)
    with pytest.raises(ValueError, match="max_keywords"):
        LLMTagger(engine, max_keywords=0)


# --- LLM tagger: real SmolLM2 ---------------------------------------------------------------


class CountingLlamaCppEngine(LlamaCppEngine):
    """The real llama.cpp engine, counting generate calls."""

    generate_calls = 0

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.generate_calls += 1
        return await super().generate(requests)


@pytest.mark.slow
async def test_grammar_holds_on_smollm2(pool: PoolConfig, engine_context: EngineContext) -> None:
    engine = LlamaCppEngine(pool.expert("smol-tagger"), engine_context)
    prompts = ["Write a poem about the sea.", "List three numbers.", "SAY HELLO IN CAPITALS!"]
    # The longest text the grammar allows: 5 items of 3 words of 16 letters, ", " between items.
    # Every token is at least one character, so the grammar always ends (with "stop") within it;
    # a smaller limit made this test fail by sampling ("length" at temperature 1.2).
    longest = 5 * (3 * 16 + 2) + 4 * 2
    requests = [
        GenerationRequest.user(
            p, grammar=TAGGER_GRAMMAR, temperature=1.2, seed=s, max_tokens=longest + 1
        )
        for s, p in enumerate(prompts)
    ]
    try:
        completions = await engine.generate(requests)
    finally:
        await engine.unload()
    for completion in completions:
        assert completion.finish_reason == "stop", completion.text
        assert GRAMMAR_OUTPUT.fullmatch(completion.text), completion.text


@pytest.mark.slow
async def test_llm_tagger_on_real_questions(
    pool: PoolConfig, engine_context: EngineContext
) -> None:
    engine = CountingLlamaCppEngine(pool.expert("smol-tagger"), engine_context)
    questions = [
        "If 3x - 4 = 11, what is the value of x?",
        "What is the molar mass of carbon dioxide? The options are: (A) 28 (B) 44 (C) 32 (D) 16",
        "Which country has the longest coastline in the world?",
    ]
    tagger: SkillTagger = LLMTagger(engine, samples=5)
    try:
        tags = await tagger.tag(questions)
    finally:
        await engine.unload()
    assert engine.generate_calls == 1
    assert len(tags) == 3
    for keywords in tags:
        assert 1 <= len(keywords) <= 5
        assert len(set(keywords)) == len(keywords)
        for keyword in keywords:
            assert normalise_keyword(keyword) == keyword
            assert re.fullmatch(ITEM, keyword), keyword
    math, chemistry, geography = (" ".join(keywords) for keywords in tags)
    assert "math" in math or "algebra" in math
    assert "chem" in chemistry
    assert "geograph" in geography


FREE_PROMPT = (
    "Question: {question}\nWhich subjects and skills does this question need? Reply with 2 to 5 "
    "keywords after 'Keywords:', separated by commas, and nothing else."
)
LABELLED_SHOTS = (
    ("Solve for x: 3x + 7 = 22.", "Keywords: math, algebra, linear equations"),
    ("Which river flows through Cairo?", "Keywords: geography, rivers, africa"),
)
NO_GRAMMAR_QUESTIONS = [
    "What is the molar mass of carbon dioxide?",
    "Which country has the longest coastline in the world?",
    "A ball is dropped from 20 m. Using conservation of energy, find its speed at the ground.",
]


def labelled_request(question: str, seed: int) -> GenerationRequest:
    """Few-shot answers that carry a "Keywords:" label, as a model without a grammar copies."""
    messages = [
        Message(role, text)
        for user, assistant in LABELLED_SHOTS
        for role, text in (("user", f"Skills for: {user}"), ("assistant", assistant))
    ]
    messages.append(Message("user", f"Skills for: {question}"))
    return GenerationRequest(
        tuple(messages), max_tokens=48, temperature=0.7, seed=seed, use_system_prompt=False
    )


def assert_keywords(keywords: Sequence[str]) -> None:
    for keyword in keywords:
        assert normalise_keyword(keyword) == keyword
        assert len(keyword.split()) <= 4, keyword
        assert "keyword" not in keyword and not keyword[0].isdigit(), keyword


@pytest.mark.slow
async def test_llm_tagger_without_a_grammar_on_smollm2(
    pool: PoolConfig, engine_context: EngineContext
) -> None:
    """What a litellm or vLLM expert does (they ignore grammars), made real on llama.cpp."""
    engine = LlamaCppEngine(pool.expert("smol-tagger"), engine_context)
    questions = NO_GRAMMAR_QUESTIONS
    tagger = LLMTagger(engine, samples=3, min_votes=1, max_keywords=10, grammar=False)
    labelled = [labelled_request(q, seed) for q in questions for seed in range(3)]
    free = [
        GenerationRequest.user(FREE_PROMPT.format(question=q), max_tokens=48, seed=seed)
        for q in questions
        for seed in range(3)
    ]
    try:
        tags = await tagger.tag(questions)
        labelled_out = await engine.generate(labelled)
        free_out = await engine.generate(free)
    finally:
        await engine.unload()
    assert sum(c.text.startswith("Keywords:") for c in labelled_out) >= 6
    labelled_tags = [
        [k for c in labelled_out[i : i + 3] for k in parse_keywords(c.text)] for i in (0, 3, 6)
    ]
    for keywords in [*tags, *labelled_tags]:
        assert keywords
        assert_keywords(keywords)
    for completion in free_out:  # rambling prose: whatever is kept is still a keyword
        assert_keywords(
            parse_keywords(completion.text, truncated=completion.finish_reason != "stop")
        )
    for per_question in (tags, labelled_tags):
        chemistry, geography, physics = (" ".join(keywords) for keywords in per_question)
        assert "chem" in chemistry
        assert "geograph" in geography or "coast" in geography
        assert "physic" in physics or "energy" in physics


# --- embedding tagger -----------------------------------------------------------------------

REFERENCE = [
    ("Solve for x: 2x + 3 = 9.", ["Algebra", "linear equations"]),
    ("What is the pH of a solution with [H+] = 1e-3 M?", ["chemistry", "acids-bases"]),
    ("Which organelle carries out photosynthesis in plant cells?", ["biology", "plants"]),
    ("What is the capital city of Canada?", ["geography", "capitals"]),
    ("In what year did the French Revolution begin?", ["history", "france"]),
    ("What does print(sorted([3, 1, 2])) output in Python?", ["python", "lists"]),
    ("Why is the sky blue?", []),  # untagged references are ignored
]


@pytest.fixture(scope="module")
def minilm(engine_context: EngineContext) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(cache_dir=engine_context.model_cache_dir)


@pytest.fixture(scope="module")
def embedding_tagger(minilm: SentenceTransformerEmbedder) -> EmbeddingTagger:
    questions, tags = zip(*REFERENCE, strict=True)
    return EmbeddingTagger(minilm, questions, tags, neighbours=3)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Find x if 5x - 2 = 13.", ["algebra", "linear equations"]),
        ("Where in a leaf cell does photosynthesis happen?", ["biology", "plants"]),
        ("What is Australia's capital city?", ["geography", "capitals"]),
        ("What is printed by print(sorted([9, 7, 8])) in Python?", ["python", "lists"]),
    ],
)
async def test_embedding_tagger_copies_the_obvious_neighbour(
    embedding_tagger: EmbeddingTagger, question: str, expected: list[str]
) -> None:
    assert await embedding_tagger.tag([question]) == [expected]


async def test_embedding_tagger_votes_across_close_neighbours(
    minilm: SentenceTransformerEmbedder,
) -> None:
    questions = [
        "Balance the equation H2 + O2 -> H2O.",
        "Balance the equation CH4 + O2 -> CO2 + H2O.",
        "Balance the equation Fe + O2 -> Fe2O3.",
        "Who painted the Mona Lisa?",
    ]
    tags = [["chemistry", "stoichiometry"], ["chemistry", "combustion"], ["chemistry"], ["art"]]
    tagger = EmbeddingTagger(minilm, questions, tags, neighbours=4, max_keywords=2)
    (keywords,) = await tagger.tag(["Balance the equation N2 + H2 -> NH3."])
    assert keywords[0] == "chemistry"  # shared by all three balancing questions
    assert "art" not in keywords
    assert len(keywords) <= 2


async def test_embedding_tagger_tags_a_thousand_questions(
    embedding_tagger: EmbeddingTagger,
) -> None:
    subjects = ["algebra", "chemistry acids", "plant cells", "capital cities", "french history"]
    questions = [f"Question {i} on {subjects[i % 5]} number {i // 5}" for i in range(1000)]
    tags = await embedding_tagger.tag(questions)
    reference_tags = {tag for tags in embedding_tagger.reference_tags for tag in tags}
    assert len(tags) == 1000
    assert all(1 <= len(keywords) <= 5 and set(keywords) <= reference_tags for keywords in tags)
    assert "algebra" in tags[0]
    assert await embedding_tagger.tag([]) == []


def test_embedding_tagger_checks_its_references(minilm: SentenceTransformerEmbedder) -> None:
    with pytest.raises(ValueError, match="2 reference questions but 1 tag lists"):
        EmbeddingTagger(minilm, ["a", "b"], [["x"]])
    with pytest.raises(DataError, match="no reference question has skill tags"):
        EmbeddingTagger(minilm, ["a", "b"], [[], ["..."]])


# --- keyword tagger -------------------------------------------------------------------------

CORPUS = [
    "Which process do plants use to make glucose? Photosynthesis converts light energy.",
    "During photosynthesis, which gas do plants absorb? The options are: (A) O2 (B) CO2",
    "Balance the chemical equation: H2 + O2 -> H2O.",
    "How many moles of O2 are needed? Balance the chemical equations first.",
    "Who led the French Revolution in 1793? The options are: (A) Robespierre (B) Napoleon",
    "What caused the French Revolution of 1789?",
    "What is the derivative of x^2 + 3x?",
    "Compute the derivative of sin(x) at x = 0.",
]


def test_keyword_tagger_finds_shared_topic_words() -> None:
    tagger = KeywordTagger(CORPUS, max_keywords=3)
    tags = tagger.tag_sync(CORPUS)
    assert all("photosynthesis" in keywords for keywords in tags[0:2])
    assert all("chemical equation" in keywords for keywords in tags[2:4])  # plural merged
    assert all("french revolution" in keywords for keywords in tags[4:6])
    assert all("derivative" in keywords for keywords in tags[6:8])
    for keywords in tags:
        assert 1 <= len(keywords) <= 3
        for keyword in keywords:
            assert normalise_keyword(keyword) == keyword
            assert not re.search(r"\d|\b[a-z]\b", keyword)  # no numbers, no single letters
            assert not {"the", "options", "are", "which", "what"} & set(keyword.split())
    assert tagger.name == "keyword"


async def test_keyword_tagger_on_unseen_questions() -> None:
    tagger: SkillTagger = KeywordTagger(CORPUS)
    unseen = await tagger.tag(
        [
            "Explain photosynthesis in desert plants.",
            "The options are: 1 2",
            "Which of these is true? The options are: (A) Photosynthesis needs light (B) No",
            "What is the French capital? The options are: (A) Derivative (B) Photosynthesis",
        ]
    )
    assert "photosynthesis" in unseen[0]
    assert unseen[1] == []  # nothing but boilerplate and numbers
    assert unseen[2] == ["photosynthesis"]  # an empty stem falls back to the options
    assert unseen[3] == ["french"]  # the stem's keywords win over the options'


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is 17 + 14?", ["addition"]),
        ("What is 18 - 4?", ["subtraction"]),
        ("What is 6 * 7?", ["multiplication"]),
        ("What is 6 \u00d7 7?", ["multiplication"]),
        ("What is 56 / 8?", ["division"]),
        ("What is 15% of 240?", ["percent"]),
        ("Which war lasted from 1939-1945?", ["war"]),  # a year range is no subtraction
    ],
)
def test_keyword_tagger_names_arithmetic(question: str, expected: list[str]) -> None:
    corpus = [
        "What is 1 + 2?",
        "What is 3 + 4?",
        "What is 9 - 2?",
        "What is 8 - 5?",
        "What is 2 * 3?",
        "What is 4 / 2?",
        "What is 6 / 3?",
        "What is 5% of 20?",
        "What is 10% of 50?",
        "What war began in 1914?",
        "Which war ended in 1918?",
    ]
    assert KeywordTagger(corpus * 3).tag_sync([question]) == [expected]


async def test_keyword_tagger_tags_fifteen_thousand_questions() -> None:
    topics = [
        "photosynthesis",
        "chemical bonding",
        "french revolution",
        "prime numbers",
        "plate tectonics",
        "binary search",
        "supply and demand",
        "cell division",
    ]
    templates = [
        "Which statement about {t} is correct? The options are: (A) {i} (B) {j}",
        "Explain the role of {t} in example {i}.",
        "A student studies {t} for {i} hours. What did she learn about {t}?",
    ]
    questions = [templates[i % 3].format(t=topics[i % 8], i=i, j=i + 1) for i in range(15_000)]
    tags = await KeywordTagger(questions).tag(questions)
    assert len(tags) == 15_000
    for i in range(15_000):
        topic = topics[i % 8]
        expected = ["supply", "demand"] if topic == "supply and demand" else [topic]
        assert tags[i] == expected, (questions[i], tags[i])  # no "role", "student", "example"


class ThreadRecorder:
    """A real (hashing) embedder that records the thread of each call."""

    def __init__(self) -> None:
        self.inner = HashingEmbedder(64)
        self.name = self.inner.name
        self.threads: list[int] = []

    def embed(self, texts: Sequence[str], *, kind: EmbeddingKind = "query") -> np.ndarray:
        self.threads.append(threading.get_ident())
        return self.inner.embed(texts, kind=kind)


@pytest.mark.parametrize(
    ("inline", "questions", "on_loop"), [(True, 1, True), (True, 9, False), (False, 1, False)]
)
async def test_an_inline_tagger_tags_a_few_questions_on_the_loop(
    inline: bool, questions: int, on_loop: bool
) -> None:
    """A routed question with a sub-millisecond embedder skips the worker-thread hop; a big
    batch still leaves the event loop free."""
    recorder = ThreadRecorder()
    tagger = EmbeddingTagger(recorder, ["circle area", "world war"], [["geometry"], ["history"]])
    tagger.inline = inline
    await tagger.tag(["warm up"])  # embeds the references
    recorder.threads.clear()
    tags = await tagger.tag(["area of a circle"] * questions)
    assert tags[0] == ["geometry"]
    assert (recorder.threads == [threading.get_ident()]) == on_loop

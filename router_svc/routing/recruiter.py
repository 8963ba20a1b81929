"""The recruiter: scores every expert for every question and picks k distinct ones.

Subclasses fill in ``score`` (arrays in, arrays out); ``recruit`` picks the top k (or samples
them, seeded per question and without replacement), and ``assign`` wraps both into
explainable decisions. With ``RecruitOptions.auto`` a ``TeamRule`` (``routing.team_size``)
cuts each question's team to the size its estimated gain pays for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Self

import numpy as np

from router_svc.config.knobs import RecruitMode
from router_svc.errors import NoExpertsError, RoutingError
from router_svc.routing.inputs import Queries
from router_svc.routing.profiles import ProfileMatrix
from router_svc.routing.team_size import TeamRule, cap_k, question_seeds
from router_svc.tagging.inventory import SkillMatch
from router_svc.types import Completion

if TYPE_CHECKING:
    from pydantic import BaseModel

    from router_svc.routing.escalation import EscalatingPairs
    from router_svc.routing.inputs import SuiteData

_ORDER_SLIVER = 1e-3
"""The weight of an expert's standing in relevance order (0 the worst, 1 the best)."""
_TIE_SLIVER = 1e-6
"""The weight of the prior beside it: enough to break a tie, never to reorder evidence."""


@dataclass(frozen=True)
class ScoreParts:
    """Every number behind a decision, for a batch of questions."""

    relevance: np.ndarray
    """(questions, experts): profile values summed over the question's skills."""
    prior: np.ndarray
    """(experts,): the global-competency prior, a softmax with a temperature."""
    score: np.ndarray
    """(questions, experts): what the top k is taken over (before the cost term)."""
    fallback: np.ndarray
    """(questions,): True where relevance ties for every expert and the prior decided."""
    cost: np.ndarray | None = None
    """(questions, experts): each expert's expected dollars on each question, for methods that
    estimate it per question; None: the recruiter's per-expert ``expected_cost``."""
    evidence: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
    """Per level of a probability estimate (neighbours, skills, cluster, task, global): that
    level's estimate and the questions behind it, each (questions, experts)."""


@dataclass(frozen=True)
class ExpertScore:
    """How one expert was scored. A method that estimates success probabilities fills in
    ``probability`` and ``evidence`` (relevance and prior are None: it has neither); a
    skill-profile method fills in ``relevance`` (profile values summed over the question's
    skills) and ``prior`` (its global-competency prior)."""

    expert: str
    relevance: float | None
    prior: float | None
    cost_penalty: float
    """lambda x the expert's expected cost relative to the most expensive expert."""
    score: float
    """What the choice is taken over: the score (probability) minus the cost penalty."""
    probability: float | None = None
    """The estimated chance that the expert answers the question right."""
    evidence: dict[str, dict[str, float]] | None = None
    """Per level: {"estimate": that level's probability, "questions": the (weighted) graded
    questions behind it}; each level is shrunk toward the next by its evidence."""


@dataclass(frozen=True)
class Assignment:
    """The explainable routing decision for one question."""

    question_id: str
    tags: list[str]
    skills: list[SkillMatch]
    scores: list[ExpertScore]
    chosen: list[str]
    fallback: bool
    router: str = ""
    """The routing method that decided (set by the pipeline, which knows its name)."""
    tagging: Completion | None = None
    """What the tagger spent on the question (an LLM tagger's tokens; None: no model ran)."""
    draws: tuple[str, ...] = ()
    """The generations to run, one per draw, repeats included (a method that samples its
    team with replacement); empty: one generation per ``chosen`` expert."""
    temperature: float | None = None
    """The sampling temperature of every draw (and of the aggregator), each seeded by
    ``seed``; None: each expert's own settings."""
    always_aggregate: bool = False
    """Aggregate even where the answers agree (the paper's method)."""
    seed: int = 0
    """The question's seed (from the request's seed and the question text)."""
    escalate_to: str | None = None
    """An escalating team: ``chosen`` is a pair whose shared answer stands; where the two state
    different answers (or either states none), this expert answers the question alone and its
    answer is final. None: disagreements go to the aggregator."""
    option: ExpertScore | None = None
    """How the chosen option was scored where it is not one expert (an escalating team:
    ``expert`` names it ``first + second > escalate_to``); None: ``scores`` has it."""

    @property
    def generations(self) -> tuple[str, ...]:
        """The experts to run, one entry per generation."""
        return self.draws or tuple(self.chosen)

    def to_json(self) -> dict[str, object]:
        return {
            "question_id": self.question_id,
            "router": self.router,
            "tags": self.tags,
            "skills": [vars(s) for s in self.skills],
            "scores": [vars(s) for s in self.scores],
            "chosen": self.chosen,
            "draws": list(self.generations),
            "fallback": self.fallback,
            "escalate_to": self.escalate_to,
            "option": vars(self.option) if self.option is not None else None,
        }


@dataclass(frozen=True)
class RecruitOptions:
    """Per-call routing knobs."""

    k: int = 3
    """The team size; with ``auto``, the largest team a question may get."""
    mode: RecruitMode = "top_k"
    cost_weight: float = 0.0
    """Lambda: the score (scaled to at most 1 per question) minus lambda x relative cost."""
    seed: int = 0
    auto: bool = False
    """k: auto. Each question gets a team (of k) only where the router's ``TeamRule`` expects
    its gain to exceed lambda x the added cost; else the top expert alone."""

    def __post_init__(self) -> None:
        if self.k < 1:
            raise RoutingError(f"k must be at least 1, got {self.k}")
        if self.cost_weight < 0:
            raise RoutingError(f"cost_weight must be >= 0, got {self.cost_weight}")
        if self.mode not in ("top_k", "sampling"):
            raise RoutingError(f"mode must be 'top_k' or 'sampling', got {self.mode!r}")


class Recruiter:
    """Scores experts from profile arrays; subclasses fill in ``score`` (from skill weights)
    or ``score_queries`` (from whole queries), and ``fit`` when they are a routing method."""

    needs_vectors: bool = False
    """Whether ``score_queries`` reads the queries' vectors (the pipeline then embeds them)."""
    needs_tags: bool = True
    """Whether ``score_queries`` reads the queries' tags or skills (else the pipeline tags
    nothing: no tagger runs, and no LLM tagger is paid for)."""
    scores_are_probabilities: bool = False
    """True: scores are success probabilities, traded against cost as they are; False: each
    question's scores are first scaled to at most 1 (a fixed scale for the cost term)."""
    auto_k: int = 1
    """The team k: auto gives where the method has no probabilities to size a team from."""
    samples_draws: bool = False
    """True: ``recruit`` draws with replacement and every draw is its own generation."""
    always_aggregate: bool = False
    """True: the aggregator runs even where the team's answers agree."""
    sample_temperature: float | None = None
    """The temperature every draw (and the aggregator) samples at; None: the experts' own."""
    escalations: EscalatingPairs | None = None
    """Escalating teams scored after the experts (score columns past ``matrix.experts``);
    None: the method scores single experts only (``routing.escalation``)."""

    def fold_options(self) -> BaseModel | None:
        """Options that refit this method as it was fitted without searching its knobs again
        (cross-fitting on validation folds); None: refit with the options it was given."""
        return None

    @classmethod
    def fit(cls, suite: SuiteData, options: BaseModel) -> Self:
        """The method built from a suite's validation record (``routing.registry`` names it)."""
        raise NotImplementedError(f"{cls.__name__} is not a registered routing method")

    def __init__(self, matrix: ProfileMatrix, expected_cost: np.ndarray | None = None) -> None:
        if not matrix.experts:
            raise NoExpertsError("the profile has no experts to recruit from")
        self.matrix = matrix
        self.expected_cost = (
            np.zeros(len(matrix.experts)) if expected_cost is None else expected_cost
        )
        self._skill_index = matrix.skill_index()

    def score(self, weights: np.ndarray) -> ScoreParts:
        """Score every expert for each row of ``weights`` (questions, skills)."""
        raise NotImplementedError(f"{type(self).__name__} scores whole queries")

    def score_queries(self, queries: Queries) -> ScoreParts:
        """Score every expert for each query; skill scorers score the skill weights."""
        return self.score(self.weights(queries.skills))

    def recruit(
        self, scores: np.ndarray, options: RecruitOptions, seeds: np.ndarray | None = None
    ) -> np.ndarray:
        """Indices (questions, k) of k distinct experts per question, best first. ``seeds``:
        one per question for the methods that sample (None: drawn from ``options.seed``)."""
        k = cap_k(options.k, scores.shape[1])
        if options.mode == "top_k":
            # Stable sort on -score: ties go to the expert listed first in the pool. For one
            # expert that is argmax (its first best), a tenth of the time (a bench sweep
            # recruits a whole split per cost weight); NaN sorts differently, so not then.
            if k == 1 and len(scores) and not np.isnan(scores).any():
                return np.asarray(np.argmax(scores, axis=1))[:, None]
            return np.argsort(-scores, axis=1, kind="stable")[:, :k]
        rngs = generators(len(scores), options.seed, seeds)
        return (
            np.stack([_sample(row, k, r) for row, r in zip(scores, rngs, strict=True)])
            if len(scores)
            else scores
        )

    def weights(self, skills: Sequence[Sequence[SkillMatch]]) -> np.ndarray:
        """(questions, skills): the best similarity with which each profile skill was matched."""
        weights = np.zeros((len(skills), len(self.matrix.skills)))
        for row, matches in enumerate(skills):
            for match in matches:
                column = self._skill_index.get(match.skill)
                if column is not None:
                    weights[row, column] = max(weights[row, column], match.similarity)
        return weights

    def assign(
        self,
        question_ids: Sequence[str],
        tags: Sequence[Sequence[str]],
        skills: Sequence[Sequence[SkillMatch]],
        options: RecruitOptions,
        *,
        vectors: np.ndarray | None = None,
        texts: Sequence[str] | None = None,
        team: TeamRule | None = None,
    ) -> list[Assignment]:
        """Routing decisions for a batch of questions (``vectors``: their question vectors,
        needed when ``needs_vectors``; ``texts``: the questions, which seed a sampling method
        per question (their ids otherwise); ``team``: the rule of ``options.auto``)."""
        parts = self.score_queries(Queries(question_ids, tags, skills, vectors))
        seeds = question_seeds(options.seed, texts if texts is not None else question_ids)
        chosen = self.choose(parts, options, seeds)
        penalty, final = self.utility(parts, options.cost_weight)
        sizes = self.team_sizes(parts, chosen, options, team)
        return [
            replace(
                self._explain(
                    i, qid, tags[i], skills[i], parts, penalty, final, chosen[i, : sizes[i]]
                ),
                seed=int(seeds[i]),
            )
            for i, qid in enumerate(question_ids)
        ]

    def choose(
        self, parts: ScoreParts, options: RecruitOptions, seeds: np.ndarray | None = None
    ) -> np.ndarray:
        """(questions, k) expert indices: ``recruit`` over the ``utility`` of ``parts``. This is
        the decision ``assign`` explains; the benches call it on a whole split's scores."""
        final = self.utility(parts, options.cost_weight)[1]
        experts = len(self.matrix.experts)
        if final.shape[1] == experts:
            return self.recruit(final, options, seeds)
        chosen = self.recruit(final[:, :experts], options, seeds)
        if options.mode == "top_k" and (options.k == 1 or options.auto):
            best = np.argmax(final, axis=1)
            paired = best >= experts
            chosen[paired, 0] = best[paired]
        return chosen

    def team_sizes(
        self,
        parts: ScoreParts,
        chosen: np.ndarray,
        options: RecruitOptions,
        team: TeamRule | None,
    ) -> np.ndarray:
        """(questions,): how many of ``chosen``'s columns each question keeps (all of them
        unless ``options.auto`` and a ``team`` rule say otherwise)."""
        if not options.auto or team is None or chosen.shape[1] == 1:
            return np.full(len(chosen), chosen.shape[1], dtype=int)
        sizes = team.sizes(parts.score, chosen, self.relative_cost(parts), options.cost_weight)
        return np.where(chosen[:, 0] >= len(self.matrix.experts), 1, sizes)

    def relative_cost(self, parts: ScoreParts) -> np.ndarray:
        """(questions, experts): each expert's cost over the most expensive expected cost."""
        cost = parts.cost if parts.cost is not None else self.expected_cost[None, :]
        top = float(self.expected_cost.max(initial=0.0))
        relative = cost / top if top > 0 else np.zeros_like(cost)
        return np.asarray(np.broadcast_to(relative, parts.score.shape))

    def utility(self, parts: ScoreParts, cost_weight: float) -> tuple[np.ndarray, np.ndarray]:
        """(penalty, final), each (questions, experts): lambda x cost relative to the most
        expensive expert's expected cost, and the score minus it (what top k is taken over)."""
        penalty = cost_weight * self.relative_cost(parts)
        score = parts.score if self.scores_are_probabilities else _scaled(parts.score)
        final = score - penalty
        if cost_weight == 0 and final.shape[1] > len(self.matrix.experts):
            final[:, len(self.matrix.experts) :] = -np.inf  # pairs only pay where cost counts
        return penalty, final

    def _explain(
        self,
        row: int,
        question_id: str,
        tags: Sequence[str],
        skills: Sequence[SkillMatch],
        parts: ScoreParts,
        penalty: np.ndarray,
        final: np.ndarray,
        chosen: np.ndarray,
    ) -> Assignment:
        scores = [
            self._expert_score(name, row, col, parts, penalty, final)
            for col, name in enumerate(self.matrix.experts)
        ]
        pair = int(chosen[0]) - len(self.matrix.experts) if len(chosen) else -1
        if self.escalations is not None and pair >= 0:
            option = self._expert_score(
                self.escalations.name(pair), row, int(chosen[0]), parts, penalty, final
            )
            return Assignment(
                question_id=question_id,
                tags=list(tags),
                skills=list(skills),
                scores=scores,
                chosen=self.escalations.members(pair),
                fallback=bool(parts.fallback[row]),
                always_aggregate=False,
                escalate_to=self.escalations.strong_name,
                option=option,
            )
        return Assignment(
            question_id=question_id,
            tags=list(tags),
            skills=list(skills),
            scores=scores,
            chosen=[self.matrix.experts[col] for col in dict.fromkeys(chosen.tolist())],
            fallback=bool(parts.fallback[row]),
            draws=tuple(self.matrix.experts[col] for col in chosen.tolist())
            if self.samples_draws
            else (),
            temperature=self.sample_temperature,
            always_aggregate=self.always_aggregate,
        )

    def _expert_score(
        self,
        name: str,
        row: int,
        col: int,
        parts: ScoreParts,
        penalty: np.ndarray,
        final: np.ndarray,
    ) -> ExpertScore:
        probabilities = self.scores_are_probabilities
        return ExpertScore(
            expert=name,
            relevance=None if probabilities else round(float(parts.relevance[row, col]), 6),
            prior=None if probabilities else round(float(parts.prior[col]), 6),
            cost_penalty=round(float(penalty[row, col]), 6),
            score=round(float(final[row, col]), 6),
            probability=round(float(parts.score[row, col]), 6) if probabilities else None,
            evidence=_evidence(parts, row, col),
        )


class SkillRecruiter(Recruiter):
    """The skill-based recruiter: relevance from skill profiles, weighted by a competency prior.

    relevance[q, e] = sum over the question's skills s of similarity(q, s) * profile[e][s].
    prior[e] = softmax(competency[e] / observations[e] / temperature), where observations is how
    many (question, skill) pairs the competency sums over, so the logits lie in [-1/T, 1/T].
    score = max(relevance, 0) * prior (scaled to at most 1 per question), plus a sliver of the
    expert's standing in relevance order and a smaller sliver of the prior. So experts with
    positive relevance rank by relevance times prior, every other expert ranks below them by
    its relevance (more evidence first, however strong its prior), and the prior alone decides
    only where relevance ties for everyone (no skill matched: ``fallback``).

    With ``center`` (the default) each skill's profile values are taken relative to the pool's
    mean on that skill, so "positive" means "better than the average expert here". Without it
    (the paper's raw sums) a pool whose experts are mostly wrong, like tiny CPU models, has
    no positive relevance at all and the least wrong expert comes first.
    """

    def __init__(
        self,
        matrix: ProfileMatrix,
        expected_cost: np.ndarray | None = None,
        *,
        temperature: float = 0.5,
        center: bool = True,
    ) -> None:
        if temperature <= 0:
            raise RoutingError(f"temperature must be > 0, got {temperature}")
        super().__init__(matrix, expected_cost)
        self.temperature = temperature
        values = matrix.values
        self._values = values - values.mean(axis=1, keepdims=True) if center else values

    def score(self, weights: np.ndarray) -> ScoreParts:
        relevance = weights @ self._values
        observations = self.matrix.seen.sum(axis=0)
        prior = competency_prior(self.matrix.competency, observations, self.temperature)
        standing, fallback = _standing(relevance)
        score = _scaled(np.clip(relevance, 0, None) * prior) + _ORDER_SLIVER * standing
        score += _TIE_SLIVER * prior[None, :]
        return ScoreParts(relevance=relevance, prior=prior, score=score, fallback=fallback)


def _evidence(parts: ScoreParts, row: int, col: int) -> dict[str, dict[str, float]] | None:
    if parts.evidence is None:
        return None
    return {
        level: {
            "estimate": round(float(estimate[row, col]), 4),
            "questions": round(float(count[row, col]), 2),
        }
        for level, (estimate, count) in parts.evidence.items()
    }


def competency_prior(
    competency: np.ndarray, observations: np.ndarray, temperature: float
) -> np.ndarray:
    """Softmax of each competency per observation (in [-1, 1]), sharpened by the temperature."""
    logits = competency / np.maximum(observations, 1.0) / temperature
    exp = np.exp(logits - logits.max(initial=0.0))
    return np.asarray(exp / exp.sum())


def _standing(relevance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row rescaled to [0, 1] (the worst expert 0, the best 1), and where it ties for all."""
    low = relevance.min(axis=1, keepdims=True)
    spread = relevance.max(axis=1, keepdims=True) - low
    ties = spread[:, 0] <= _TIE_SLIVER
    standing = (relevance - low) / np.where(ties[:, None], 1.0, spread)
    standing[ties] = 0.0
    return standing, ties


def _scaled(scores: np.ndarray) -> np.ndarray:
    """Each row divided by its largest absolute value, so the cost term has a fixed scale."""
    top = np.abs(scores).max(axis=1, keepdims=True) if scores.size else scores
    return np.asarray(scores / np.where(top > 0, top, 1.0))


def generators(questions: int, seed: int, seeds: np.ndarray | None) -> list[np.random.Generator]:
    """One generator per question: from its own seed, or all from one seeded stream."""
    if seeds is None:
        shared = np.random.default_rng(seed)
        return [shared] * questions
    return [np.random.default_rng(int(s)) for s in seeds]


def _sample(row: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    weights = np.clip(row - row.min(), 0, None) + 1e-6
    return rng.choice(len(row), size=k, replace=False, p=weights / weights.sum())

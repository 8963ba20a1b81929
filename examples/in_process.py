"""Route and answer in this process, with no server: ``router_svc.MoE``.

MoE runs the same pipeline as ``router-svc serve``: it reads the pool (experts.yaml, or
ROUTER_SVC_CONFIG_PATH) and the suite's profile under ROUTER_SVC_SKILLS_DIR (default skills/).

    python examples/in_process.py [suite]        # default suite: starter
"""

from __future__ import annotations

import sys

import router_svc


def main() -> None:
    suite = sys.argv[1] if len(sys.argv) > 1 else "starter"
    with router_svc.MoE.from_config(suite=suite) as moe:
        decision = moe.route("What is 12 + 8?", k=2)
        print(f"route: {', '.join(decision.chosen)} (skills: {', '.join(decision.skills)})")

        answer = moe.answer("What is 12 + 8?", k=2)
        print(f"answer: {answer.answer} (method: {answer.method})")
        for expert in answer.experts:
            print(f"  {expert.expert}: {expert.answer}")

        questions = [
            router_svc.Question("sum", "What is 2 + 3?", gold_answer="5"),
            router_svc.Question("legs", "How many legs does an insect have?", gold_answer="6"),
        ]
        for result in moe.run_batch(questions, k=1):
            print(f"batch {result.id}: {result.answer} correct={result.correct}")


if __name__ == "__main__":
    main()

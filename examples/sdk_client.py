"""router-svc's own client: a routed answer, a routing decision, a stream and a small batch.

Start a server and a batch worker first (``router-svc serve`` and ``router-svc worker``).
ROUTER_SVC_URL says where the server is (default http://127.0.0.1:8000); ROUTER_SVC_API_KEY
is sent as the API key when the server wants one.

    python examples/sdk_client.py
"""

from __future__ import annotations

import router_svc

QUESTIONS = [
    {"id": "sum", "question": "What is 2 + 3?", "gold_answer": "5"},
    {"id": "legs", "question": "How many legs does an insect have?", "gold_answer": "6"},
]


def main() -> None:
    with router_svc.Client() as client:  # base_url: $ROUTER_SVC_URL, else the local default
        answer = client.chat("What is 12 + 8?", k=2)
        print(f"answer: {answer.text.strip()}")
        print(f"experts: {', '.join(answer.experts)} (method: {answer.method})")
        print(f"skills: {', '.join(answer.skills) or '(none)'}")

        decision = client.route("How many legs does an insect have?", k=2)
        print(f"route: {', '.join(decision.chosen)} via the {decision.tagger} tagger")

        stream = client.chat_stream("What is 3 + 4?", k=1)
        text = "".join(stream)
        usage = stream.usage.total_tokens if stream.usage else 0
        print(f"stream: {text.strip()} ({usage} tokens)")

        batch = client.submit_batch(QUESTIONS, k=1)
        print(f"batch: {batch.id} {batch.status}, {batch.request_counts.total} questions")
        batch = client.wait(batch.id, poll_s=0.5, timeout_s=600)
        print(f"batch: {batch.status}")
        for result in client.batch_results(batch.id):
            print(
                f"result {result.id}: {result.answer} correct={result.correct} by {result.chosen}"
            )


if __name__ == "__main__":
    main()

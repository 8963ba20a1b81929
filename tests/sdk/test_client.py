"""router_svc.Client (the sync client) against a real server and real batch workers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import router_svc
from router_svc import APIError, Batch, BatchResult, ChatResult, JobNotFoundError, Question
from tests.support import Server, free_port, start_server

pytestmark = pytest.mark.slow

QUESTION = "What is 12 + 8?"
METHODS = {"aggregator", "unanimous", "majority", "single"}


@pytest.fixture
def client(sdk_server: Server) -> Iterator[router_svc.Client]:
    with router_svc.Client(sdk_server.url, timeout=600) as client:
        yield client


def test_chat_answers_through_the_router_with_its_explanation(client: router_svc.Client) -> None:
    result = client.chat(QUESTION, suite="tiny", k=2, tagger="keyword")

    assert isinstance(result, ChatResult)
    assert result.text.strip()
    assert (result.model, result.finish_reason) == ("router-svc:tiny", "stop")
    assert len(result.experts) == 2
    assert set(result.experts) <= set(result.scores)
    assert result.method in METHODS
    assert result.router.suite == "tiny"
    assert result.router.assignment is not None
    assert result.skills == list(dict.fromkeys(m.skill for m in result.router.assignment.skills))
    assert [e.expert for e in result.router.experts] == result.experts
    spent = sum(e.prompt_tokens + e.completion_tokens for e in result.router.experts)
    assert result.usage.total_tokens >= spent > 0
    assert {"tag", "route", "experts"} <= result.router.timings.batch.keys()


def test_chat_max_tokens_limits_a_routed_answer_and_usage_has_its_parts(
    client: router_svc.Client,
) -> None:
    result = client.chat("Explain why the sky is blue.", k=2, tagger="keyword", max_tokens=4)

    assert result.finish_reason == "length"
    assert all(0 < e.completion_tokens <= 4 for e in result.router.experts)
    parts = result.router.usage
    assert set(parts) == {"tagger", "experts", "aggregator"}
    assert parts["tagger"].total_tokens == 0  # the keyword tagger runs no model
    assert result.usage.total_tokens == sum(part.total_tokens for part in parts.values())


def test_chat_with_one_expert_takes_the_conversation_and_sampling(
    client: router_svc.Client,
) -> None:
    messages = [
        router_svc.Message("system", "Answer in one word."),
        {"role": "user", "content": "Name a primary colour."},
    ]
    result = client.chat(messages, model="smol-facts", max_tokens=8, temperature=0)

    assert result.experts == ["smol-facts"]
    assert result.router.expert == "smol-facts"
    assert result.method is None
    assert 0 < result.usage.completion_tokens <= 8


def test_chat_stream_yields_text_then_the_explanation(client: router_svc.Client) -> None:
    with client.chat_stream(QUESTION, k=1, tagger="keyword") as stream:
        pieces = list(stream)

    assert pieces and all(pieces)
    assert "".join(pieces) == stream.text
    assert stream.done
    assert stream.finish_reason == "stop"
    assert stream.router is not None and stream.router.assignment is not None
    assert len(stream.router.assignment.chosen) == 1
    assert stream.router.aggregation is not None  # the last chunk's whole explanation
    assert stream.usage is not None and stream.usage.total_tokens > 0
    result = stream.result
    assert (result.text, result.usage) == (stream.text, stream.usage)
    assert result.experts == stream.router.assignment.chosen
    assert result.model == "router-svc"


def test_route_explains_without_generating(client: router_svc.Client) -> None:
    decision = client.route(QUESTION, suite="tiny", k=2, tagger="keyword", cost_weight=0.5)

    assert (decision.suite, decision.question, decision.tagger) == ("tiny", QUESTION, "keyword")
    assert (decision.options.k, decision.options.cost_weight) == (2, 0.5)
    assert len(decision.chosen) == 2
    assert set(decision.chosen) <= set(decision.scores)
    assert decision.assignment.tags
    assert "route" in decision.timings


def test_models_lists_the_router_and_every_expert(client: router_svc.Client) -> None:
    models = {model.id: model for model in client.models()}

    assert models["router-svc"].kind == "router"
    assert models["router-svc:tiny"].router.suite == "tiny"
    assert models["smol-math"].kind == "expert"
    assert models["smol-math"].router.engine == "llamacpp"
    assert models["smol-tagger"].router.routable is False


def test_a_batch_is_submitted_answered_and_read_back_typed(
    client: router_svc.Client, sdk_server: Server
) -> None:
    questions = [
        "What is 3 + 4?",
        Question("insect", "How many legs does an insect have?", gold_answer="6"),
        {"id": "sum", "question": "What is 2 + 3?", "gold_answer": "5", "category": "arithmetic"},
    ]
    batch = client.submit_batch(questions, k=1, tagger="keyword")
    assert isinstance(batch, Batch)
    assert (batch.status, batch.request_counts.total, batch.done) == ("queued", 3, 0)
    assert batch.metadata["k"] == "1"
    assert client.batch(batch.id).id == batch.id

    sdk_server.run_worker()
    finished = client.wait(batch.id, poll_s=0.2, timeout_s=120, progress=True)

    assert (finished.status, finished.done, finished.finished) == ("completed", 3, True)
    results = client.batch_results(batch.id)
    assert all(isinstance(result, BatchResult) and result.ok for result in results)
    assert [r.id for r in results][1:] == ["insect", "sum"]
    assert results[0].question == "What is 3 + 4?"
    assert [r.batch.index for r in results if r.batch] == [0, 1, 2]
    assert results[0].correct is None
    assert isinstance(results[1].correct, bool)
    assert results[2].category == "arithmetic"
    for result in results:
        assert len(result.chosen) == 1
        assert result.final is not None and result.method
        assert result.tokens.total > 0
        assert [e.expert for e in result.experts] == result.chosen


def test_a_batch_from_a_file_is_cancelled(client: router_svc.Client, tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text('{"id": "a", "question": "What is 1 + 1?"}\n')
    batch = client.submit_batch(path)

    with pytest.raises(APIError) as running:
        client.batch_results(batch.id)
    assert (running.value.status_code, running.value.code) == (409, "batch_not_finished")
    assert client.batch_results(batch.id, partial=True) == []

    cancelled = client.cancel_batch(batch.id)
    assert (cancelled.status, cancelled.finished) == ("cancelled", True)
    assert client.wait(batch.id, progress=False).status == "cancelled"


def test_waiting_past_the_timeout_is_an_error(client: router_svc.Client) -> None:
    batch = client.submit_batch('{"id": "a", "question": "What is 5 + 5?"}\n')
    try:
        with pytest.raises(APIError, match=r"still queued after 0\.3 s") as waited:
            client.wait(batch.id, poll_s=0.1, timeout_s=0.3, progress=False)
        assert (waited.value.status_code, waited.value.code) == (0, "wait_timeout")
    finally:
        client.cancel_batch(batch.id)


def test_server_errors_carry_the_servers_message_status_type_and_code(
    client: router_svc.Client,
) -> None:
    with pytest.raises(APIError) as unknown:
        client.chat(QUESTION, model="smol-mth")
    error = unknown.value
    assert (error.status_code, error.type, error.code) == (
        404,
        "invalid_request_error",
        "model_not_found",
    )
    assert "no model named 'smol-mth'" in str(error)
    assert "Did you mean 'smol-math'?" in str(error)

    with pytest.raises(APIError) as bad_k:
        client.route(QUESTION, k=99)
    assert (bad_k.value.status_code, bad_k.value.code) == (400, "invalid_k")
    assert "got 99" in str(bad_k.value)

    with pytest.raises(APIError) as no_suite:
        next(client.chat_stream(QUESTION, suite="nope"))
    assert (no_suite.value.status_code, no_suite.value.code) == (404, "model_not_found")


def test_an_unknown_batch_is_a_job_not_found_error(client: router_svc.Client) -> None:
    for call in (client.batch, client.batch_results, client.cancel_batch, client.wait):
        with pytest.raises(JobNotFoundError, match="batch_0123") as missing:
            call("batch_0123")
        cause = missing.value.__cause__
        assert isinstance(cause, APIError)
        assert (cause.status_code, cause.code) == (404, "job_not_found")


def test_an_unreachable_server_is_an_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with router_svc.Client(url) as client, pytest.raises(APIError) as unreachable:
        client.models()
    assert unreachable.value.code == "connection_error"
    assert unreachable.value.status_code == 0
    assert url in str(unreachable.value)
    assert "ROUTER_SVC_URL" in str(unreachable.value)


def test_url_and_api_key_come_from_the_environment(
    sdk_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**sdk_server.env, "ROUTER_SVC_API_KEYS": '["s3cret"]'}
    with start_server(env) as url:
        monkeypatch.setenv("ROUTER_SVC_URL", f"{url}/v1/")
        with router_svc.Client() as anonymous, pytest.raises(APIError) as refused:
            anonymous.models()
        assert (refused.value.status_code, refused.value.code) == (401, "missing_api_key")
        assert anonymous.base_url == url

        with router_svc.Client(api_key="wrong") as wrong, pytest.raises(APIError) as invalid:
            wrong.models()
        assert invalid.value.code == "invalid_api_key"

        monkeypatch.setenv("ROUTER_SVC_API_KEY", "s3cret")
        with router_svc.Client() as client:
            assert "router-svc" in [model.id for model in client.models()]


def test_the_sync_client_works_from_threads_and_closes_its_loop(sdk_server: Server) -> None:
    before = {thread.name for thread in threading.enumerate()}
    client = router_svc.Client(sdk_server.url)
    decisions: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: decisions.append(client.route(QUESTION).chosen))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()

    assert len(decisions) == 3 and decisions[0] == decisions[1] == decisions[2]
    assert {thread.name for thread in threading.enumerate()} <= before


def test_client_methods_are_the_async_ones_run_synchronously() -> None:
    names = ("chat", "route", "models", "submit_batch", "batch", "wait", "batch_results")
    for name in (*names, "cancel_batch", "delete_batch"):
        method = getattr(router_svc.Client, name)
        assert method.__doc__ == getattr(router_svc.AsyncClient, name).__doc__
    assert router_svc.Client.chat_stream.__doc__ == router_svc.AsyncClient.chat_stream.__doc__

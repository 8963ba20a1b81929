"""Admission comes before any work: a routed request that no team of k experts could take is a
429 before it is tagged (a real server of the recorded pool, its queues one request deep)."""

from __future__ import annotations

from pathlib import Path

import httpx

from router_svc.api.app import create_app
from tests.support import ReplaySuite, metric_sample, serve_in_thread

TAGGED = 'router_svc_stage_seconds_count{stage="tag"}'


def test_a_routed_request_no_team_can_take_is_refused_before_tagging(
    replay_suite: ReplaySuite, tmp_path: Path
) -> None:
    settings = replay_suite.settings.model_copy(update={"max_queue": 1, "data_dir": tmp_path})
    app = create_app(settings)
    body = {
        "model": f"router-svc:{replay_suite.suite}",
        "messages": [{"role": "user", "content": replay_suite.questions()[0].question}],
        "k": 2,
    }
    with serve_in_thread(app) as base_url:
        held = app.state.queues.hold(replay_suite.data.experts[1:])  # one expert has room
        try:
            refused = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=60)
        finally:
            held.release()
        metrics = httpx.get(f"{base_url}/metrics").text
        answered = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=60)

    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "queue_full"
    assert "only 1 of the suite's experts can take a request, 2 needed" in refused.text
    assert metric_sample(metrics, TAGGED) == 0
    assert answered.status_code == 200, answered.text

"""Nothing runs at import: no model, no Redis, no heavy library."""

from __future__ import annotations

import subprocess
import sys


def test_package_imports_without_loading_models() -> None:
    code = (
        "import sys, router_svc, router_svc.cli.main, router_svc.backends.llamacpp, "
        "router_svc.backends.litellm, router_svc.backends.vllm\n"
        "heavy = [m for m in ('llama_cpp', 'litellm', 'torch', 'sentence_transformers', 'vllm')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == ""

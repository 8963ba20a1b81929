"""docs/config.md is generated from the pydantic models and kept current."""

from __future__ import annotations

from pathlib import Path

from router_svc.config.schema_doc import reference
from router_svc.config.settings import Settings


def test_docs_config_is_current(root: Path) -> None:
    committed = (root / "docs" / "config.md").read_text(encoding="utf-8")
    assert committed == reference(), "run: router-svc config schema --out docs/config.md"


def test_every_setting_is_documented() -> None:
    text = reference()
    for name, field in Settings.model_fields.items():
        assert f"`ROUTER_SVC_{name.upper()}`" in text
        assert field.description, f"Settings.{name} has no description"

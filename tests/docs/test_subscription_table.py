"""README's table of subscription types is the one the code generates, so it cannot drift."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "subscription_table", ROOT / "tools" / "subscription_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_table_lists_every_typed_subscription_type_as_the_code_does() -> None:
    tool = _tool()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert tool.with_table(readme) == readme, "run: uv run python tools/subscription_table.py"
    assert "| `channel.follow` | `2` | `broadcaster_user_id`, `moderator_user_id` |" in readme

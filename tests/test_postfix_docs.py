"""docs/postfix.md shows deploy/postfix/*.cf exactly as the Postfix integration test uses them."""

from __future__ import annotations

import pytest

from tests.postfix import DEPLOY

PAGE = DEPLOY.parent.parent / "docs" / "postfix.md"


@pytest.mark.parametrize("name", ["main.cf", "master.cf"])
def test_the_page_shows_the_tested_snippet(name: str) -> None:
    snippet = (DEPLOY / name).read_text()
    assert snippet.startswith(f"# dlp-proxy: add to /etc/postfix/{name} ")
    assert f"\n```\n{snippet}```\n" in PAGE.read_text(), f"docs/postfix.md: {name} differs"

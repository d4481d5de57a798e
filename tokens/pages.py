"""The small HTML pages the OAuth callback shows in the user's browser tab."""

from __future__ import annotations

from html import escape

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>StreamCore: {title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}
</style></head>
<body><h1>{title}</h1><p>{message}</p>{link}</body></html>
"""


def render_page(title: str, message: str, link: tuple[str, str] | None = None) -> str:
    """A page with a title, one message, and optionally one link (href, text); all escaped."""
    link_html = ""
    if link is not None:
        link_html = f'<p><a href="{escape(link[0])}">{escape(link[1])}</a></p>'
    return _PAGE.format(title=escape(title), message=escape(message), link=link_html)

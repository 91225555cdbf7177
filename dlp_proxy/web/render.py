"""Pages from Jinja2 templates in the reader's language, with the values every page uses."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from dlp_proxy.actions.notify import Formatter
from dlp_proxy.policy.schema import Language
from dlp_proxy.quarantine.records import AuditRecord
from dlp_proxy.web import i18n
from dlp_proxy.web.csrf import csrf_token
from dlp_proxy.web.state import context

if TYPE_CHECKING:
    from dlp_proxy.web.auth import Viewer

TEMPLATES = Path(__file__).parent / "templates"
DETAIL_LIMIT = 200

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def language(request: Request, own: str | None = None) -> Language:
    """The toggle, else the reader's own language (user or directory), else Accept-Language."""
    ctx = context(request)
    return i18n.choose(
        chosen=request.session.get("lang"),
        user=own,
        header=request.headers.get("accept-language"),
        default=ctx.default_language,
    )


def flash(request: Request, key: str, kind: str = "") -> None:
    """A message for the next page shown to this session."""
    pending = list(request.session.get("flash") or [])
    pending.append([kind, key])
    request.session["flash"] = pending[-3:]


def _flashes(request: Request, lang: Language) -> list[tuple[str, str]]:
    pending = request.session.pop("flash", None) or []
    return [(kind, i18n.text(key, lang)) for kind, key in pending if key in i18n.TEXTS]


def describe(record: AuditRecord, lang: Language) -> str:
    """One short line from an audit record's detail (the trail holds no cell values)."""
    detail = record.detail or {}
    parts: list[str] = []
    if isinstance(detail.get("comment"), str) and detail["comment"]:
        parts.append(f"“{detail['comment']}”")
    for key, value in detail.items():
        if key == "comment" or value in (None, "", [], {}):
            continue
        if isinstance(value, dict):
            continue
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else value
        parts.append(f"{key}: {shown}")
    line = "; ".join(parts)
    return line if len(line) <= DETAIL_LIMIT else line[: DETAIL_LIMIT - 1] + "…"


def event_label(event: str, lang: Language) -> str:
    key = f"event.{event}"
    return i18n.text(key, lang) if key in i18n.TEXTS else event


def page(
    request: Request,
    template: str,
    *,
    viewer: Viewer | None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    own_language: str | None = None,
    error_key: tuple[str, Mapping[str, object]] | None = None,
    **values: Any,
) -> HTMLResponse:
    """Render ``template`` for this request; ``error_key`` is an i18n key for an error line."""
    ctx = context(request)
    lang = language(request, own_language or (viewer.language if viewer else None))
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    variables: dict[str, Any] = {
        "lang": lang,
        "other_lang": "en" if lang == "ja" else "ja",
        "t": functools.partial(_t, lang),
        "fmt": Formatter(lang, ctx.zone),
        "base": ctx.base_path,
        "viewer": viewer,
        "csrf": csrf_token(request),
        "here": here,
        "flashes": _flashes(request, lang),
        "event_label": functools.partial(_event_label, lang=lang),
        "describe": functools.partial(_describe, lang=lang),
        "error": i18n.text(error_key[0], lang, **error_key[1]) if error_key else "",
    }
    variables.update(values)
    body = _env.get_template(template).render(variables)
    return HTMLResponse(body, status_code=status, headers=dict(headers or {}))


def _t(lang: Language, key: str, **values: object) -> str:
    return i18n.text(key, lang, **values)


def _event_label(event: str, *, lang: Language) -> str:
    return event_label(event, lang)


def _describe(record: AuditRecord, *, lang: Language) -> str:
    return describe(record, lang)


def refusal(
    request: Request,
    *,
    viewer: Viewer | None,
    status: int,
    key: str,
    own_language: str | None = None,
    **values: object,
) -> HTMLResponse:
    """A clear page saying what cannot be done and why (``key``: the i18n text)."""
    lang = language(request, own_language or (viewer.language if viewer else None))
    return page(
        request,
        "error.html.j2",
        viewer=viewer,
        status=status,
        own_language=own_language,
        title=i18n.text("error.title", lang),
        message=i18n.text(key, lang, **values),
        detail="",
        error_code=key.removeprefix("error."),
    )

"""The approval web UI and JSON API (docs/web.md).

Entry points: ``dlp_proxy.web.app.create_app``, ``dlp_proxy.web.serve.serve_web``,
``dlp_proxy.web.links.Links`` / ``make_link``, ``dlp_proxy.web.summary.make_summary`` and
``dlp_proxy.web.secret.load_secret``. Nothing is imported here, so that the command line
does not load the web stack for commands that do not need it.
"""

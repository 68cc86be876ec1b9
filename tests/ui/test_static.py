"""How the UI's files are served: the page at ``/`` and its files under ``/static/`` without a key (they hold
no data), as the right types, with a Content-Security-Policy; nothing outside ``api/static`` is reachable.
Served by an API whose database is unreachable: none of this reads the database."""

from __future__ import annotations

import httpx

from api.ui import SECURITY_HEADERS


def test_the_page_and_its_modules_are_served_with_the_policy(ui_url_without_database: str) -> None:
    with httpx.Client(base_url=ui_url_without_database, timeout=10) as http:
        index = http.get("/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/static/app.js">' in index.text
        for path, kind in (("/static/app.js", "javascript"), ("/static/i18n/zh-CN/shell.json", "json"),
                           ("/static/vendor/uplot/uPlot.esm.js", "javascript"), ("/static/styles.css", "css")):
            answer = http.get(path)
            assert answer.status_code == 200 and kind in answer.headers["content-type"], path
            for name, value in SECURITY_HEADERS.items():
                assert answer.headers[name] == value, (path, name)
        assert index.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
        assert "script-src 'self';" in SECURITY_HEADERS["Content-Security-Policy"]


def test_nothing_outside_the_static_folder_is_served(ui_url_without_database: str) -> None:
    with httpx.Client(base_url=ui_url_without_database, timeout=10) as http:
        for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fui.py", "/app.py", "/static/"):
            answer = http.get(path)
            assert answer.status_code == 404, path
            assert "create_app" not in answer.text
        assert http.get("/api/v1/alerts").status_code == 401  # data still needs a key

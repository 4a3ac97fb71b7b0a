"""The browsable API page at ``/docs``: Swagger UI on the service's own ``/openapi.json``.

The page and its start-up script are written here; Swagger UI's script, style sheet and
icons come from the pinned ``swagger-ui-bundle`` package, served by the service itself,
so the page loads nothing from anywhere else (no CDN, no validator badge).
"""

from __future__ import annotations

import functools
import importlib
import logging
from importlib.resources.abc import Traversable

logger = logging.getLogger(__name__)

PREFIX = "/docs/"
SPEC_URL = "/openapi.json"
_HTML = "text/html; charset=utf-8"
_SCRIPT = "text/javascript; charset=utf-8"

PAGE = f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>chrono API</title>
    <link rel="stylesheet" href="{PREFIX}swagger-ui.css">
    <link rel="stylesheet" href="{PREFIX}index.css">
    <link rel="icon" type="image/png" href="{PREFIX}favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="{PREFIX}favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{PREFIX}swagger-ui-bundle.js"></script>
    <script src="{PREFIX}chrono-docs.js"></script>
  </body>
</html>
"""

START = f"""// Swagger UI on this service's own OpenAPI document.
"use strict";
window.addEventListener("load", function () {{
  window.ui = SwaggerUIBundle({{
    url: "{SPEC_URL}",
    dom_id: "#swagger-ui",
    deepLinking: true,
    displayOperationId: true,
    // The default badge asks validator.swagger.io about the document: nothing leaves.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "BaseLayout",
    // A zone name fills a "**" path variable, which google.api.http sends with its
    // slashes as they are (/v1/timezones/Europe/Paris); Swagger UI escapes them.
    requestInterceptor: function (request) {{
      var query = request.url.indexOf("?");
      var path = query < 0 ? request.url : request.url.slice(0, query);
      var rest = query < 0 ? "" : request.url.slice(query);
      request.url = path.replace(/%2F/gi, "/") + rest;
      return request;
    }},
  }});
}});
"""

# Files served from the package, with their content types.
PACKAGED = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "index.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": _SCRIPT,
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}


@functools.cache
def _packaged(name: str) -> bytes:
    # By name: the package has no type information. Imported only when a page is asked for.
    folder: Traversable = importlib.import_module("swagger_ui_bundle").swagger_ui_path
    content = folder.joinpath(name).read_bytes()
    logger.debug("read %s from swagger-ui-bundle (%d bytes)", name, len(content))
    return content


def asset(path: str) -> tuple[bytes, str] | None:
    """The body and content type of ``/docs/<path>`` (``""``: the page), or None if none.

    Only the page, its start-up script and the files in :data:`PACKAGED` exist; any
    other path, one that climbs out included, is None.
    """
    if path in ("", "index.html"):
        return PAGE.encode(), _HTML
    if path == "chrono-docs.js":
        return START.encode(), _SCRIPT
    if path in PACKAGED:
        return _packaged(path), PACKAGED[path]
    return None

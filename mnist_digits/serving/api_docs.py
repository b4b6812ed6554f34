"""GET /docs: Swagger UI for /openapi.json, served entirely by the app.

The Swagger UI files come from the `swagger-ui-bundle` package on PyPI and are
served under /docs/assets/, so the page works on a machine with no internet
access and asks no CDN for anything.
"""
from flask import Blueprint, render_template_string
from swagger_ui_bundle import swagger_ui_path

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{{ title }}</title>
  <link rel="stylesheet" href="{{ url_for('api_docs.static', filename='swagger-ui.css') }}">
  <link rel="icon" type="image/png" href="{{ url_for('api_docs.static', filename='favicon-32x32.png') }}">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{{ url_for('api_docs.static', filename='swagger-ui-bundle.js') }}"></script>
  <script src="{{ url_for('api_docs.static', filename='swagger-ui-standalone-preset.js') }}"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "{{ url_for('openapi') }}",
      dom_id: "#swagger-ui",
      validatorUrl: null,  // the public validator badge would call swagger.io
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout",
    });
  </script>
</body>
</html>
"""


def create_blueprint(title="API"):
    docs = Blueprint("api_docs", __name__, url_prefix="/docs", static_folder=str(swagger_ui_path),
                     static_url_path="/assets")

    @docs.get("")
    def page():
        return render_template_string(PAGE, title=title)

    return docs

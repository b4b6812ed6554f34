"""Who may call the API: API keys and CORS, both off unless configured.

API_KEYS="k1,k2"          every route except the probes and /metrics needs
                          `Authorization: Bearer <key>` or `X-API-Key: <key>`, else a JSON 401
CORS_ORIGINS="https://a"  browsers on those origins may call the API (flask-cors)

Keys are compared in constant time against every configured key (no early exit
that a timing attack could measure) and never logged: the request log records
method, path and status only.
"""
import hmac

from flask import jsonify, request

# Load balancers, orchestrators and Prometheus call these without credentials.
OPEN_PATHS = frozenset({"/health", "/health/live", "/health/ready", "/v2/health/live", "/v2/health/ready",
                        "/metrics"})
# Headers a browser client may send and read when CORS is on.
CORS_ALLOW_HEADERS = ["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"]
CORS_EXPOSE_HEADERS = ["X-Request-ID"]


def presented_key():
    """The key the request carries, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("X-API-Key") or None


def key_matches(given, keys):
    # WSGI hands headers over as latin-1 text: back to the bytes the client sent.
    given = given.encode("latin-1", "replace")
    return sum(hmac.compare_digest(given, key) for key in keys) > 0


def require_api_keys(app, keys):
    keys = [key.encode("utf-8") for key in keys]

    @app.before_request
    def check_api_key():
        # CORS preflights carry no credentials by design; flask-cors answers them.
        if request.path in OPEN_PATHS or request.method == "OPTIONS":
            return None
        given = presented_key()
        if given is not None and key_matches(given, keys):
            return None
        message = ("this API needs a key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
                   if given is None else "the API key is not valid")
        return (jsonify({"error": {"code": "unauthorized", "message": message}}), 401,
                {"WWW-Authenticate": 'Bearer realm="digits"'})


def install(app, api_keys=(), cors_origins=()):
    """Turn on what is configured; with neither, the app is unchanged."""
    if api_keys:
        require_api_keys(app, api_keys)
    if cors_origins:
        from flask_cors import CORS
        CORS(app, origins=list(cors_origins), allow_headers=CORS_ALLOW_HEADERS,
             expose_headers=CORS_EXPOSE_HEADERS)

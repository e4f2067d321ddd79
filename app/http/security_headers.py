"""Browser hardening on every answer: a strict Content-Security-Policy (scripts, styles
and connections from this server only), no MIME sniffing, no framing, no referrer.

The dashboard keeps the user's API key in the browser, so no script but the
dashboard's own may run on this origin. The documentation pages get the same
policy, but their vendored Swagger UI and ReDoc set inline styles and ReDoc runs a
search worker from a blob."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
DOCS_PATHS = ("/docs", "/redoc")
_STRICT_HEADERS = [*COMMON, (b"content-security-policy", STRICT.encode())]
_DOCS_HEADERS = [*COMMON, (b"content-security-policy", DOCS.encode())]


def hardening_headers(path: str) -> list[tuple[bytes, bytes]]:
    """The headers every answer on ``path`` carries (one shared list: copy, don't change)."""
    return _DOCS_HEADERS if path.startswith(DOCS_PATHS) else _STRICT_HEADERS


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = hardening_headers(scope["path"])

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_hardened)

"""Who may act on the fake: the guard in front of ``/_mock`` and the task WebSocket.

The control surface holds every project's secret and can reset the fake, so only the
person running it may reach it. Four rules, checked before the admin token (an
app-wide hook carried by the control blueprint, so every way of serving the app has
them, the CLI's or not), each refusal answered 403 with a message naming the rule and
journalled as kind ``refused``:

1. **Not a callback.** Every callback POST the fake sends carries
   :data:`~mock_wiro.push.callbacks.CALLBACK_ATTEMPT_HEADER`; ``/_mock`` refuses any
   request that carries it. A task's ``callbackUrl`` aimed at the fake itself (through
   any spelling of its address: ``localhost``, ``127.1``, ``0x7f000001``, ``/v1/../``)
   reaches the control surface only to be refused: by construction, not by a host list.
2. **Not cross-site.** A state-changing request (any method but GET, HEAD, OPTIONS)
   whose ``Sec-Fetch-Site`` is neither ``same-origin`` nor ``none``, or whose ``Origin``
   is not the request's own origin (``null`` included), is refused, whatever its body:
   a web page's ``fetch(url, {method: "POST", mode: "no-cors"})`` sends both headers.
3. **A local, direct peer, unless there is an admin token.** Without
   ``Settings.admin_token`` only a loopback peer may use ``/_mock`` (``mock-wiro serve``
   off loopback, or published under a non-loopback ``--public-url``, generates a token;
   ``create_app()`` under any other server refuses remote peers instead), and not through
   a proxy: a request carrying ``Forwarded``, ``X-Forwarded-For``, ``X-Forwarded-Host``,
   ``X-Real-IP`` or ``Via`` came from elsewhere, whatever its loopback peer says.
4. **A trusted host name** (:func:`~mock_wiro.settings.is_trusted_host`). Without an
   admin token a ``/_mock`` request must name, in ``Host``, an IP literal, ``localhost``
   (or a subdomain), the public URL's host or one of ``Settings.allowed_hosts``: a page
   whose name was rebound to 127.0.0.1 sends its own name and is refused.

The task WebSocket (``/v1``) from a loopback peer takes rule 4 for its ``Host``, and its
``Origin`` must be absent (a script), a loopback address or name, the public URL's host
or an allowed host (:func:`~mock_wiro.settings.is_trusted_origin`), or ``null``: a local
``file://`` page, as the seed's browser example is opened. (A sandboxed frame of any site
also says ``null``; it still needs a task's token to learn anything.)
"""

from __future__ import annotations

from flask import Response, jsonify, request

from ..engine.journal import ENTRY_TEXT_CHARS, masked_headers
from ..push.callbacks import CALLBACK_ATTEMPT_HEADER
from ..settings import Settings, is_loopback, is_trusted_host, is_trusted_origin
from .fake import current_fake

__all__ = [
    "FORWARDING_HEADERS",
    "SAFE_METHODS",
    "SAME_SITE_FETCHES",
    "control_refusal",
    "guard_control",
    "socket_refusal",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods no control endpoint changes state on (none of them is state-changing)."""
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP", "Via")
"""Headers a proxy adds: without an admin token, ``/_mock`` refuses a request that has one."""
SAME_SITE_FETCHES = frozenset({"same-origin", "none"})
"""``Sec-Fetch-Site`` values of requests a page of the fake itself, or the user (an
address typed in the browser), makes."""


def _is_control(path: str) -> bool:
    return path.lstrip("/").startswith("_mock")  # "//_mock/..." too


def _peer_is_local() -> bool:
    return is_loopback(request.remote_addr or "")


def _trusted(host: str, settings: Settings) -> bool:
    return is_trusted_host(host, settings.public_url, settings.allowed_hosts)


def control_refusal(settings: Settings) -> tuple[str, str] | None:
    """Why this ``/_mock`` request is refused, as (rule, message), or None."""
    if CALLBACK_ATTEMPT_HEADER in request.headers:
        return "callback", (
            "a task's callback cannot act on the control surface: this request carries "
            f"{CALLBACK_ATTEMPT_HEADER}, the mark of every callback the fake sends"
        )
    if request.method not in SAFE_METHODS:
        fetch_site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
        if fetch_site and fetch_site not in SAME_SITE_FETCHES:
            return "cross-site", (
                f"cross-site request refused (Sec-Fetch-Site: {fetch_site}): the control "
                "surface only takes requests from its own pages or from non-browser clients"
            )
        origin = request.headers.get("Origin")
        if origin is not None and not _same_origin(origin):
            return "cross-site", (
                f"cross-site request refused (Origin: {origin[:200]}): the control surface "
                f"only takes requests from its own origin, {request.host_url.rstrip('/')}"
            )
    if settings.admin_token:
        return None  # the token check follows (and settles rebinding: a page can't know it)
    if not _peer_is_local():
        return "remote", (
            "the control surface answers loopback clients only unless an admin token is "
            "set (mock-wiro serve --admin-token, or Settings(admin_token=...))"
        )
    proxied = [name for name in FORWARDING_HEADERS if name in request.headers]
    if proxied:
        return "proxied", (
            f"the control surface answers direct loopback clients only unless an admin "
            f"token is set; this request came through a proxy ({', '.join(proxied)}): "
            "set --admin-token (Settings(admin_token=...))"
        )
    if not _trusted(request.host, settings):
        return "host", _host_message(request.host)
    return None


def _same_origin(origin: str) -> bool:
    own = request.host_url.rstrip("/").lower()  # scheme://host[:port], as this request names it
    return origin.strip().lower() == own


def _host_message(host: str) -> str:
    return (
        f"Host {host[:200]!r} is not a loopback name, an IP address or the public URL's "
        "host; refused (DNS rebinding). Name another host with --allowed-host "
        "(Settings.allowed_hosts)"
    )


def socket_refusal(settings: Settings) -> str | None:
    """Why this WebSocket upgrade on ``/v1`` is refused, or None (see the module doc)."""
    if not _peer_is_local():
        return None
    if not _trusted(request.host, settings):
        return _host_message(request.host)
    origin = request.headers.get("Origin")
    if origin is None or origin.strip().lower() == "null":
        return None
    if not is_trusted_origin(origin, settings.public_url, settings.allowed_hosts):
        return (
            f"WebSocket from Origin {origin[:200]!r} refused: a page may open the task "
            "socket from a loopback address or name, the public URL's host, a local "
            "file, or a name given with --allowed-host (Settings.allowed_hosts)"
        )
    return None


def _journal_refusal(rule: str, message: str) -> None:
    headers, _ = masked_headers(request.headers.items())
    current_fake().backend.journal.record(
        "refused",
        rule=rule,
        method=request.method[:ENTRY_TEXT_CHARS],
        path=request.path[:ENTRY_TEXT_CHARS],
        headers=headers,
        remote=request.remote_addr,
        message=message[:ENTRY_TEXT_CHARS],
    )


def guard_control() -> Response | None:
    """For the whole app: refuse a ``/_mock`` request that breaks a rule (403), and a
    WebSocket upgrade on ``/v1`` from a foreign page (403 in the API's envelope)."""
    if _is_control(request.path):
        refusal = control_refusal(current_fake().settings)
        if refusal is None:
            return None
        rule, message = refusal
        _journal_refusal(rule, message)
        response = jsonify({"error": message})
        response.status_code = 403
        return response
    if request.path == "/v1" and request.headers.get("Upgrade", "").lower() == "websocket":
        problem = socket_refusal(current_fake().settings)
        if problem is None:
            return None
        _journal_refusal("socket-origin", problem)
        response = jsonify({"result": False, "errors": [{"code": 0, "message": problem}]})
        response.status_code = 403
        return response
    return None

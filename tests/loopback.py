"""HTTP to the processes the suite talks to (the sandbox, the live server, gunicorn, streams):
httpx's module-level `get`, `post`, `delete` and `stream`, the same in every way (a client of
their own per call: no cookies or connections kept) but sharing one TLS context.

httpx builds a TLS context and loads the whole CA bundle for every client it makes, even for
an http:// URL: ~30 ms of CPU per `httpx.get()`, which a readiness poll every 50 ms paid on
each try (hundreds of times a run).
"""

import ssl

import certifi
import httpx

TLS = ssl.create_default_context(cafile=certifi.where())  # what httpx would build each time


def get(url, **kwargs) -> httpx.Response:
    return httpx.get(url, verify=TLS, **kwargs)


def post(url, **kwargs) -> httpx.Response:
    return httpx.post(url, verify=TLS, **kwargs)


def delete(url, **kwargs) -> httpx.Response:
    return httpx.delete(url, verify=TLS, **kwargs)


def stream(method, url, **kwargs):
    return httpx.stream(method, url, verify=TLS, **kwargs)

"""The collector: a service that records a portal's outbound event webhooks as immutable events.

It runs on aiohttp rather than uvicorn with Starlette. One package gives the server and the HTTP
client (the evidence polls, the tests' deliveries and the benchmark's clients); it parses
form-encoded bodies and limits their size without python-multipart; and `web.run_app` already
turns SIGTERM into a graceful shutdown that finishes the requests in flight. Its C HTTP parser
keeps one process well above the portal's own delivery rate on two cores.
"""

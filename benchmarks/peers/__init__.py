"""Support files for the benchmarks: the peers' canned stubs (WireMock, Prism), the npm
pins that install them, and the WSGI apps the request benchmark serves."""

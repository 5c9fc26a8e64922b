"""``python -m benchmarks.profile_detail [N]``: cProfile of N signed Task/Detail requests
on a finished task, in-process through Flask's test client (the app's own cost, no
server): requests per second unprofiled, then the top functions by own time and the
fake's by cumulative time (docs/server-choice.md, "Hot path")."""

import cProfile
import hashlib
import hmac
import io
import itertools
import pstats
import sys
import time

from mock_wiro.app import create_app
from mock_wiro.engine.backend import Backend
from mock_wiro.settings import RUN_PATH, Settings


def main() -> None:
    """Profile and print."""
    backend = Backend(Settings(clock_mode="instant"))
    app = create_app(backend=backend)
    backend.start()
    project = backend.create_project(balance="100")
    nonces = itertools.count(1)

    def headers() -> dict[str, str]:
        n = str(next(nonces))
        sig = hmac.new(
            project.api_key.encode(), (project.api_secret + n).encode(), hashlib.sha256
        ).hexdigest()
        return {"x-api-key": project.api_key, "x-nonce": n, "x-signature": sig}

    client = app.test_client()
    made = client.post(
        f"/v1/{RUN_PATH}",
        headers=headers(),
        json={"inputImageFirstUrl": "https://example.com/a.jpg", "prompt": "waves"},
    ).get_json()
    task = backend.task_by_id(made["taskid"])
    assert task is not None and backend.wait_for(task, timeout=30)
    body = {"taskid": made["taskid"]}
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    for _ in range(200):
        client.post("/v1/Task/Detail", headers=headers(), json=body)
    t = time.perf_counter()
    for _ in range(n):
        client.post("/v1/Task/Detail", headers=headers(), json=body)
    print(f"{n / (time.perf_counter() - t):.0f} req/s unprofiled (test client)")
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        r = client.post("/v1/Task/Detail", headers=headers(), json=body)
    prof.disable()
    assert r.status_code == 200
    out = io.StringIO()
    st = pstats.Stats(prof, stream=out)
    st.sort_stats("tottime").print_stats(18)
    st.sort_stats("cumulative").print_stats(r"mock_wiro", 25)
    print(out.getvalue())
    backend.close()


if __name__ == "__main__":
    main()

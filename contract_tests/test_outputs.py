"""A successful task's outputs [seed][docs]: public URLs serving the MP4 Detail describes."""

from __future__ import annotations

import pytest
import requests

from .conftest import Observed, Target
from .wire import Recorder, mp4_boxes

VIDEO = "video/mp4"


def download(url: str, target: Target) -> requests.Response:
    """GET a file URL as anyone would: no auth headers, no compression."""
    return requests.get(
        url, headers={"Accept-Encoding": "identity"}, timeout=min(300.0, target.task_timeout)
    )


@pytest.mark.spends(1)
@pytest.mark.rule("outputs.mp4", "outputs.metadata")
def test_output_is_a_real_mp4(finished: Observed, target: Target, recorder: Recorder) -> None:
    """Each output URL serves, to anyone, a whole MP4 of the size Detail states."""
    outputs = finished.final["outputs"]
    assert isinstance(outputs, list) and outputs, outputs
    for output in outputs:
        assert output["contenttype"] == VIDEO, output["contenttype"]
        size = output["size"]
        assert isinstance(size, str) and size.isdigit() and int(size) > 0, size
        url = output["url"]
        assert isinstance(url, str) and url.startswith(("http://", "https://")), url
        response = download(url, target)
        data = response.content
        recorder.record(
            "download",
            url=url,
            status=response.status_code,
            content_type=response.headers.get("Content-Type"),
            bytes=len(data),
        )
        assert response.status_code == 200, (url, response.status_code, data[:200])
        content_type = response.headers.get("Content-Type", "")
        assert content_type.split(";")[0].strip().lower() == VIDEO, content_type
        assert len(data) == int(size), (len(data), size)
        boxes = [kind for kind, _ in mp4_boxes(data)]  # asserts the boxes tile the file
        assert boxes and boxes[0] == "ftyp", boxes
        assert "moov" in boxes and "mdat" in boxes, boxes

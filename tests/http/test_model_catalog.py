"""Issue 17: the model described once (a second model is one more description), file
parameters as arrays (finding 1), the display-slug Run path (2), Tool/Detail's shape (3),
Tool/List and Tool/Explore (4), the ``--hd-long-duration`` flag (5) and both image
names (7)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from mock_wiro.cli import _settings, build_parser
from mock_wiro.engine.catalog import HAILUO_23_FAST, Catalog, ModelSpec, Option, ParamSpec
from mock_wiro.engine.params import check_fields
from mock_wiro.errors import NotFoundError, ValidationError
from mock_wiro.http.tool import tool_detail, tool_explore, tool_list
from mock_wiro.settings import FILE_ARRAY_TOO_LONG_MESSAGE, Settings
from mock_wiro_fixtures import image_bytes
from tests.helpers.wiro import Wiro, make_server

RUN = "Run/minimax/hailuo-2-3-fast"
URL = "https://example.com/a.jpg"
PART = ("a.jpg", image_bytes("landscape_16x9.jpg"))

# --- a second model: one more description, no code ---------------------------------

TINY = ModelSpec(
    id="9",
    slug_owner="Acme",
    slug_project="Tiny.Upscaler",
    clean_slug_owner="acme",
    clean_slug_project="tiny-upscaler",
    title="Acme Tiny Upscaler",
    description="Image upscaling, twice or four times.",
    categories=("tool", "upscale"),
    parameters=(
        ParamSpec("inputImage", "fileinput", "Image", required=True, max_count=1),
        ParamSpec(
            "scale",
            "select",
            "Scale",
            options=(Option("2x", "2"), Option("4x", "4")),
            default="2",
            numeric=True,
        ),
        ParamSpec("caption", "text", "Caption", max_length=10),
    ),
    prices={("2",): Decimal("0.01"), ("4",): Decimal("0.02")},
    price_by=("scale",),
    output_contenttype="image/png",
    output_extension="png",
    tags=("upscale",),
    explore_group="Upscaling",
)
CATALOG = Catalog((HAILUO_23_FAST, TINY))


def test_a_second_model_is_validated_from_its_description() -> None:
    settings = Settings()
    checked = check_fields(TINY, {"inputImage": URL, "scale": "4.0"}, (), settings)
    assert checked.values == {"inputImage": URL, "scale": "4", "caption": ""}
    assert TINY.price(checked.values) == Decimal("0.02")
    cases: list[tuple[dict[str, str], str]] = [
        ({}, "Request files [inputImage] required"),
        (
            {"inputImage": URL, "scale": "3"},
            "Request parameter [scale] must be one of 2, 4; got '3'",
        ),
        ({"inputImage": URL, "scale": "x"}, "Request parameter [scale] must be integer or float"),
        (
            {"inputImage": URL, "caption": "x" * 11},
            "Request parameter [caption] must be at most 10 characters; got 11",
        ),
        (
            {"inputImage": URL, "prompt": "p"},
            "Request parameter [prompt] is not a parameter of acme/tiny-upscaler; "
            "expected: inputImage, scale, caption",
        ),
    ]
    for raw, message in cases:
        with pytest.raises(ValidationError) as caught:
            check_fields(TINY, raw, (), settings)
        assert caught.value.message == message
    with pytest.raises(ValidationError, match=r"takes at most 1 value"):
        check_fields(TINY, {}, (), settings, lists={"inputImage": [URL, URL]})


def test_a_second_model_is_in_tool_detail_list_and_explore() -> None:
    tool = tool_detail({"slugowner": "Acme", "slugproject": "tiny.upscaler"}, CATALOG)
    assert tool["cleanslugproject"] == "tiny-upscaler" and tool["slugproject"] == "Tiny.Upscaler"
    items = tool["parameters"][0]["items"]
    assert [i["id"] for i in items] == ["inputImage", "scale", "caption"]
    assert items[1]["options"] == [{"label": "2x", "value": "2"}, {"label": "4x", "value": "4"}]
    assert tool["dynamicprice"] == [
        {"scale": "2", "price": "0.01"},
        {"scale": "4", "price": "0.02"},
    ]
    listed = tool_list({}, {}, CATALOG)
    assert listed["total"] == "2"
    assert [t["cleanslugowner"] for t in listed["tool"]] == ["minimax", "acme"]
    found = tool_list({"search": "UPSCAL"}, {}, CATALOG)
    assert found["total"] == "1" and found["tool"][0]["id"] == "9"
    groups = tool_explore(CATALOG)["explore"]
    assert [(g["title"], [t["id"] for t in g["tools"]]) for g in groups] == [
        ("Image to Video", ["1447"]),
        ("Upscaling", ["9"]),
    ]
    with pytest.raises(NotFoundError):
        tool_detail({"slugowner": "acme", "slugproject": "tiny"}, CATALOG)


# --- Tool/List filtering --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "lists", "ids"),
    [
        ({}, {}, ["1447", "9"]),
        ({"search": "hailuo"}, {}, ["1447"]),
        ({"search": "image-to-video"}, {}, ["1447"]),  # a category
        ({"search": "nothing like it"}, {}, []),
        ({}, {"categories": ["UPSCALE"]}, ["9"]),
        ({"categories": "video,upscale"}, {}, ["1447", "9"]),
        ({}, {"categories": []}, ["1447", "9"]),  # an empty filter filters nothing
        ({}, {"tags": ["hailuo"]}, ["1447"]),
        ({"slugowner": "MINIMAX"}, {}, ["1447"]),
        ({"slugowner": "acme"}, {}, ["9"]),
        ({"hideworkflows": "true"}, {}, ["1447", "9"]),
        ({"sort": "title", "order": "ASC"}, {}, ["9", "1447"]),
        ({"sort": "title", "order": "DESC"}, {}, ["1447", "9"]),
        ({"sort": "id", "order": "ASC"}, {}, ["9", "1447"]),
        ({"order": "ASC"}, {}, ["9", "1447"]),
        ({"start": "1"}, {}, ["9"]),
        ({"limit": "1"}, {}, ["1447"]),
    ],
)
def test_tool_list_filters(
    fields: dict[str, str], lists: dict[str, list[str]], ids: list[str]
) -> None:
    body = tool_list(fields, lists, CATALOG)
    assert [t["id"] for t in body["tool"]] == ids
    if "start" not in fields and "limit" not in fields:
        assert body["total"] == str(len(ids))


def test_tool_list_summary_and_workflows() -> None:
    full = tool_list({}, {}, CATALOG)["tool"][0]
    summary = tool_list({"summary": "true"}, {}, CATALOG)["tool"][0]
    assert "parameters" in full and "parameters" not in summary
    assert summary["cleanslugowner"] == "minimax"
    flow = Catalog((HAILUO_23_FAST, ModelSpec(**{**TINY.__dict__, "workflow": True})))
    assert tool_list({"hideworkflows": "false"}, {}, flow)["total"] == "2"
    assert tool_list({"hideworkflows": "true"}, {}, flow)["total"] == "1"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"limit": "many"}, "Request parameter [limit] must be integer or float"),
        ({"limit": "0"}, "Request parameter [limit] must be between 1 and 1000"),
        ({"start": "-1"}, "Request parameter [start] must be between 0 and 1000000000"),
        ({"order": "up"}, "Request parameter [order] must be one of ASC, DESC; got 'UP'"),
        ({"sort": "random"}, "Request parameter [sort] must be one of"),
        ({"summary": "maybe"}, "Request parameter [summary] must be true or false; got 'maybe'"),
        ({"categories": [1]}, "Request parameter [categories] must be a string or an array"),
        ({"search": ["a"]}, "Request parameter [search] must be a string or number; got list"),
    ],
)
def test_tool_list_bad_values_get_the_envelope(
    wiro: Wiro, body: dict[str, Any], message: str
) -> None:
    assert wiro.error("Tool/List", 0, json=body).startswith(message)


def test_tool_list_and_explore_over_http(wiro: Wiro) -> None:
    listed = wiro.ok(
        "Tool/List", json={"search": "Hailuo", "categories": ["video"], "summary": True}
    )
    assert listed["total"] == "1" and listed["tool"][0]["cleanslugproject"] == "hailuo-2-3-fast"
    form = wiro.ok(
        "Tool/List", files=[("categories", (None, "nope")), ("categories", (None, "fast"))]
    )
    assert form["total"] == "1"
    assert wiro.ok("Tool/List", json={"tags": ["nope"]})["total"] == "0"
    explore = wiro.ok("Tool/Explore", json={})["explore"]
    assert explore[0]["tools"][0]["cleanslugowner"] == "minimax"
    assert set(explore[0]["tools"][0]) == {
        "id",
        "cleanslugowner",
        "cleanslugproject",
        "image",
        "description",
        "categories",
        "commentcount",
        "ratedusercount",
        "averagepoint",
    }


# --- finding 1 and 7: arrays, repeated keys, both names ---------------------------------


@pytest.mark.parametrize("name", ["inputImage", "inputImageFirst"])
@pytest.mark.parametrize(
    ("sent", "count"),
    [
        ({"json": {"NAME": [URL, URL]}}, 2),
        ({"json": {"NAME": [URL, URL, URL]}}, 3),
        ({"files": [("NAME", PART), ("NAME", PART)]}, 2),
        ({"files": [("NAME", (None, URL)), ("NAME", (None, URL))]}, 2),
        ({"files": [("NAME", PART), ("NAME", (None, URL))]}, 2),
        ({"data": [("NAME", URL), ("NAME", URL)]}, 2),
    ],
    ids=["json-2", "json-3", "two-files", "two-texts", "file-and-text", "urlencoded-2"],
)
def test_too_many_entries_is_the_named_error(
    wiro: Wiro, name: str, sent: dict[str, Any], count: int
) -> None:
    kwargs: dict[str, Any] = {}
    for key, value in sent.items():
        if isinstance(value, dict):
            kwargs[key] = {name: value["NAME"]}
        else:
            kwargs[key] = [(name, v) for _, v in value]
    expected = FILE_ARRAY_TOO_LONG_MESSAGE.format(name=name, max=1, count=count)
    assert wiro.error(RUN, 0, **kwargs) == expected


@pytest.mark.parametrize("name", ["inputImage", "inputImageFirst"])
def test_one_entry_is_the_value_and_none_is_absent(wiro: Wiro, name: str) -> None:
    taskid = wiro.ok(RUN, json={name: [URL], "prompt": "p"})["taskid"]
    assert wiro.detail(taskid)["parameters"]["inputImageFirst"] == URL
    assert wiro.error(RUN, 0, json={name: []}) == "Request files [inputImageFirst] required"
    taskid = wiro.ok(RUN, json={name: [], "inputImageFirstUrl": URL})["taskid"]
    assert wiro.detail(taskid)["parameters"]["inputImageFirstUrl"] == URL
    assert wiro.ok(RUN, files=[(name, PART)])["result"] is True
    assert wiro.ok(RUN, files=[(name, (None, URL))])["result"] is True


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ([[URL]], "an array holding list"),
        ([1], "an array holding int"),
        ([None], "an array holding null"),
        ({"url": URL}, "dict"),
    ],
)
def test_bad_array_values_are_named(wiro: Wiro, value: object, got: str) -> None:
    message = "Request parameter [inputImage] must be a string or an array of strings; got "
    assert wiro.error(RUN, 0, json={"inputImage": value}) == message + got


def test_arrays_of_other_fields_keep_their_message(wiro: Wiro) -> None:
    message = wiro.error(RUN, 0, json={"inputImageFirstUrl": [URL]})
    assert message == "Request parameter [inputImageFirstUrl] must be a string or number; got list"


def test_an_array_entry_over_the_url_limit_is_refused(wiro: Wiro) -> None:
    long = "https://example.com/" + "a" * 9000
    message = wiro.error(RUN, 0, json={"inputImage": [long]})
    assert message.startswith("Request parameter [inputImage] must be at most 8192 characters")


# --- finding 2: the display slugs ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "insensitive", "served"),
    [
        ("Run/MiniMax/hailuo-2.3-Fast", True, True),
        ("Run/minimax/HAILUO-2-3-FAST", True, True),
        ("Run/MiniMax/hailuo-2.3-Fast", False, True),
        ("Run/minimax/hailuo-2-3-fast", False, True),
        ("Run/minimax/HAILUO-2-3-FAST", False, False),
        ("Run/MINIMAX/hailuo-2.3-fast", False, False),
        ("Run/minimax/hailuo-2.3-Fast", True, True),  # any case: the display pair's
        ("Run/minimax/hailuo-2.3-Fast", False, False),  # exact: neither spelling
        ("Run/minimax/hailuo-2-3-fast/x", True, False),
    ],
)
def test_run_path_slugs(path: str, insensitive: bool, served: bool) -> None:
    with make_server(clock_mode="manual", slug_case_insensitive=insensitive) as srv:
        wiro = Wiro(srv, srv.backend.create_project())
        response = wiro.post(path, json={"inputImageFirstUrl": URL})
        if served:
            assert response.status_code == 200 and response.json()["result"] is True
        else:
            assert response.status_code == 404
            assert response.json()["errors"] == [{"code": 0, "message": "Error parsing url."}]


# --- finding 5: the flag -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        ([], None, "fallback"),
        (["--hd-long-duration", "reject"], None, "reject"),
        ([], "reject", "reject"),
        (["--hd-long-duration", "fallback"], "reject", "fallback"),
    ],
)
def test_hd_long_duration_flag(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], env: str | None, expected: str
) -> None:
    if env is not None:
        monkeypatch.setenv("MOCK_WIRO_HD_LONG_DURATION", env)
    args = build_parser().parse_args(["serve", *argv])
    assert _settings(args).hd_long_duration == expected

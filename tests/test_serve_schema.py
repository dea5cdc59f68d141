"""schemathesis against `ingest serve`'s own /openapi.json, over HTTP: every operation, with
generated valid and invalid parameters, answers as its document says (no 5xx, documented
status codes, content types and bodies). Bounded: a fixed number of examples each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from feedserver import FeedServer
from hypothesis import HealthCheck, given, settings
from servekit import LiveServer, fill_store


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with FeedServer() as server:
        db = fill_store(tmp_path_factory.mktemp("schema") / "ingest.db", server)
    with LiveServer(db) as live:
        yield live


def operations(live: LiveServer) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_url(live.base_url + "/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


# (schemathesis's pytest plugin, from_fixture, does not run under pytest 9: its strategies are
# driven by hypothesis directly here, one operation at a time)
@pytest.mark.slow
@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_api_conforms_to_its_openapi_document(
    live: LiveServer, mode: schemathesis.GenerationMode
) -> None:
    tested = []
    for operation in operations(live):
        if mode is schemathesis.GenerationMode.NEGATIVE and not (
            operation.query or operation.path_parameters
        ):
            continue  # nothing to get wrong

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=50,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate()

        check()
        tested.append(operation.label)
    assert len(tested) == (10 if mode is schemathesis.GenerationMode.POSITIVE else 8), tested


def test_the_document_covers_every_route(live: LiveServer) -> None:
    import httpx

    paths = set(httpx.get(live.base_url + "/openapi.json").json()["paths"])
    assert paths >= {
        "/api/articles",
        "/api/articles/{article_id}",
        "/api/stories",
        "/api/stories/{story_id}",
        "/api/feeds",
        "/healthz",
        "/stories.atom",
        "/stories.json",
        "/",
        "/story/{story_id}",
    }

"""Property-based bad input: no body and no citation id ever gives a 500, every error has the JSON shape."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
BODIES = JSON | st.fixed_dictionaries({"question": st.text(max_size=60)}, optional={"top_k": JSON})
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _assert_clean(reply):
    assert reply.status_code < 500, reply.get_data(as_text=True)[:300]
    body = reply.get_json()
    if reply.status_code >= 400:
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])


@FUZZ
@given(body=BODIES)
def test_any_json_body_is_answered_or_refused_cleanly(client, body):
    _assert_clean(client.post("/api/ask", data=json.dumps(body), content_type="application/json"))


@FUZZ
@given(data=st.binary(max_size=200))
def test_any_bytes_are_refused_cleanly(client, data):
    _assert_clean(client.post("/api/ask", data=data, content_type="application/json"))


@FUZZ
@given(citation=st.text(min_size=1, max_size=80).filter(lambda s: "/" not in s and s not in (".", "..")))
def test_any_citation_id_is_found_or_404(client, citation):
    reply = client.get("/api/citations/" + citation)
    _assert_clean(reply)

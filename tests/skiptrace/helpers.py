"""Request builders and payload strategies shared by the skip-trace tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from equity_connect.skiptrace import SkipTraceRequest


def make_request(n: int = 1, **overrides: Any) -> SkipTraceRequest:
    """A plausible request for lead ``lead-<n>``; keyword overrides replace fields."""
    fields: dict[str, Any] = {
        "lead_id": f"lead-{n}",
        "first_name": "Jane",
        "last_name": "Doe",
        "street": f"{1000 + n} Rosegold St",
        "city": "Franklin Square",
        "state": "NY",
        "zip5": "11010",
    }
    fields.update(overrides)
    return SkipTraceRequest(**fields)


def make_requests(count: int) -> list[SkipTraceRequest]:
    return [make_request(n) for n in range(1, count + 1)]


# Any JSON value, biased toward the shapes the parsers look at.
json_leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "Records",
                    "RecordID",
                    "Results",
                    "TransmissionResults",
                    "EmailAddress",
                    "PhoneNumber",
                    "MelissaAddressKey",
                    "status",
                    "code",
                    "results",
                    "result",
                    "data",
                    "persons",
                    "input",
                    "meta",
                    "matched",
                    "error",
                    "requestId",
                    "propertyAddress",
                    "street",
                    "state",
                    "phoneNumbers",
                    "number",
                    "type",
                    "score",
                    "dnc",
                    "emails",
                    "email",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


def mutate(document: Any, path_choices: st.DataObject, replacement: Any) -> Any:
    """A copy of ``document`` with one randomly chosen node replaced (or a key dropped)."""
    if isinstance(document, dict) and document and path_choices.draw(st.booleans()):
        key = path_choices.draw(st.sampled_from(sorted(document)))
        copy = dict(document)
        if path_choices.draw(st.booleans()):
            del copy[key]
        else:
            copy[key] = mutate(document[key], path_choices, replacement)
        return copy
    if isinstance(document, list) and document and path_choices.draw(st.booleans()):
        index = path_choices.draw(st.integers(0, len(document) - 1))
        copy_list = list(document)
        copy_list[index] = mutate(document[index], path_choices, replacement)
        return copy_list
    return replacement

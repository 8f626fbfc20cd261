"""Column names that differ only in case resolve to the stream's columns, at write start against the
catalog's and once more against the stream's first record; a name two columns match is an error."""

from __future__ import annotations

import logging

import pytest

from retl_shared.config import FieldType, StreamMapping, UnmappedColumns
from retl_shared.errors import ConfigError
from retl_shared.mapping import Mapper, mapping_problems, resolve_columns
from retl_shared.templates import referenced_columns, rename_columns

COLUMNS = ["ID", "EMAIL", "FIRST_NAME", "UPDATED_AT"]


def test_fields_keys_resolve_to_the_column_and_keep_their_target() -> None:
    mapping = StreamMapping(stream="contacts", fields={"email": "email", "first_name": "firstname"})
    resolved = resolve_columns(mapping, COLUMNS, [])
    assert resolved.mapping.fields == {"EMAIL": "email", "FIRST_NAME": "firstname"}
    assert resolved.notes == [
        "column 'email' resolved to 'EMAIL' in stream 'contacts' (`fields`; only the case differs)",
        "column 'first_name' resolved to 'FIRST_NAME' in stream 'contacts' (`fields`; only the case differs)",
    ]
    assert resolved.problems == []
    assert mapping_problems(resolved.mapping, dict.fromkeys(COLUMNS), ["email"]) == []
    data, key = Mapper(resolved.mapping, match_key=["email"]).map(
        {"ID": 1, "EMAIL": "a@x.io", "FIRST_NAME": "A"}
    )
    assert data == {"ID": 1, "email": "a@x.io", "firstname": "A"}
    assert key == ("a@x.io",)


def test_a_match_key_or_field_type_naming_a_passed_through_column_renames_that_column_to_it() -> None:
    mapping = StreamMapping(stream="contacts", field_types={"id": FieldType.string})
    resolved = resolve_columns(mapping, COLUMNS, ["email"])
    assert resolved.mapping.fields == {"EMAIL": "email", "ID": "id"}
    assert [note.split(" (")[1] for note in resolved.notes] == [
        "match key, sent as 'email'; only the case differs)",
        "`field_types`, sent as 'id'; only the case differs)",
    ]
    data, key = Mapper(resolved.mapping, match_key=["email"]).map({"ID": 7, "EMAIL": "a@x.io"})
    assert data == {"id": "7", "email": "a@x.io"}
    assert key == ("a@x.io",)


def test_names_already_exact_or_produced_are_left_alone() -> None:
    mapping = StreamMapping(stream="s", fields={"EMAIL": "email"}, templates={"name": "{{ record.ID }}"})
    resolved = resolve_columns(mapping, COLUMNS, ["email", "name"])
    assert resolved.mapping is mapping
    assert resolved.notes == resolved.problems == []


def test_dropped_columns_are_not_renamed_for_a_match_key() -> None:
    mapping = StreamMapping(stream="s", unmapped_columns=UnmappedColumns.drop)
    assert resolve_columns(mapping, COLUMNS, ["email"]).mapping is mapping
    assert (
        "is not a field this mapping produces"
        in mapping_problems(mapping, dict.fromkeys(COLUMNS), ["email"])[0]
    )


def test_two_columns_differing_only_in_case_make_a_name_that_is_neither_an_error_naming_both() -> None:
    columns = ["email", "EMAIL", "id"]
    for mapping, key in [
        (StreamMapping(stream="s", fields={"Email": "mail"}), []),
        (StreamMapping(stream="s", templates={"mail": "{{ record.Email }}"}), []),
        (StreamMapping(stream="s"), ["Email"]),
    ]:
        resolved = resolve_columns(mapping, columns, key)
        assert len(resolved.problems) == 1, mapping
        assert (
            "'Email' matches the columns 'EMAIL' and 'email', which differ only in case"
            in resolved.problems[0]
        )
    exact = StreamMapping(stream="s", fields={"email": "mail"})
    assert resolve_columns(exact, columns, []).mapping is exact  # the exact spelling picks one


def test_templates_read_the_resolved_columns() -> None:
    mapping = StreamMapping(
        stream="s",
        templates={"name": "{{ record.first_name }} <{{ record['email'] | lower }}> {{ record.get('id') }}"},
    )
    resolved = resolve_columns(mapping, COLUMNS, [])
    assert resolved.mapping.templates == {
        "name": '{{ record.FIRST_NAME }} <{{ record["EMAIL"] | lower }}> {{ record.get("ID") }}'
    }
    data, _ = Mapper(resolved.mapping).map({"ID": 3, "EMAIL": "A@X.IO", "FIRST_NAME": "Ann"})
    assert data["name"] == "Ann <a@x.io> 3"


def test_template_references_are_found_by_tokens_not_by_text() -> None:
    source = (
        "{# record.note #}record.text {{ 'record.literal' }} {{ record . spaced }} {{ record.items() }}"
        ' {{ other.record.x }} {{ record["First Name"] }} {{ record["esc\\"aped"] }}'
    )
    assert referenced_columns(source) == {"spaced", "First Name"}
    renamed = rename_columns(source, {"spaced": "SPACED NAME", "First Name": "FIRST NAME"})
    assert renamed == (
        "{# record.note #}record.text {{ 'record.literal' }} {{ record [\"SPACED NAME\"] }}"
        ' {{ record.items() }} {{ other.record.x }} {{ record["FIRST NAME"] }} {{ record["esc\\"aped"] }}'
    )


def test_the_first_record_resolves_what_the_catalog_did_not_list(caplog: pytest.LogCaptureFixture) -> None:
    mapping = StreamMapping(stream="contacts", fields={"email": "mail"})
    mapper = Mapper(mapping, match_key=["ID"], catalog_columns=[])
    with caplog.at_level(logging.INFO, logger="retl.mapping"):
        first = mapper.map({"id": 1, "EMAIL": "a@x.io"})
        second = mapper.map({"id": 2, "EMAIL": "b@x.io"})
    assert first == ({"ID": 1, "mail": "a@x.io"}, (1,))
    assert second == ({"ID": 2, "mail": "b@x.io"}, (2,))
    assert caplog.messages == [
        "column 'email' resolved to 'EMAIL' in stream 'contacts' in its first record (`fields`; "
        "only the case differs)",
        "column 'ID' resolved to 'id' in stream 'contacts' in its first record (match key, sent as 'ID'; "
        "only the case differs)",
    ]


def test_records_that_spell_columns_otherwise_than_the_catalog_follow_the_records() -> None:
    """PyAirbyte's cache: the catalog keeps the source's EMAIL, the replayed records say email."""
    catalog = ["ID", "EMAIL"]
    resolved = resolve_columns(StreamMapping(stream="s", fields={"EMAIL": "mail"}), catalog, ["ID"])
    mapper = Mapper(resolved.mapping, match_key=["ID"], catalog_columns=catalog)
    assert mapper.map({"id": 5, "email": "a@x.io", "_airbyte_raw_id": "r"}) == (
        {"ID": 5, "mail": "a@x.io", "_airbyte_raw_id": "r"},
        (5,),
    )


def test_deleted_rows_first_leave_the_other_columns_to_the_first_full_record() -> None:
    mapping = StreamMapping(stream="s", fields={"email": "mail"})
    mapper = Mapper(mapping, match_key=["id"], catalog_columns=[])
    assert mapper.map({"ID": 1, "_retl_change": "deleted"}) == ({"id": 1, "_retl_change": "deleted"}, (1,))
    assert mapper.map({"ID": 2, "EMAIL": "b@x.io", "_retl_change": "added"})[0] == {
        "id": 2,
        "mail": "b@x.io",
        "_retl_change": "added",
    }


def test_a_first_record_with_two_columns_of_one_name_fails_the_sync() -> None:
    mapper = Mapper(StreamMapping(stream="s", fields={"Email": "mail"}), catalog_columns=[])
    with pytest.raises(ConfigError, match="'Email' matches the columns 'EMAIL' and 'email'"):
        mapper.map({"email": "a", "EMAIL": "b"})


def test_the_catalogs_own_case_twins_are_not_resolved_from_records() -> None:
    """The catalog has both email and EMAIL; a first record that omits one must not redirect the other."""
    mapping = StreamMapping(stream="s", fields={"email": "lower", "EMAIL": "upper"})
    mapper = Mapper(mapping, catalog_columns=["email", "EMAIL"])
    assert mapper.map({"EMAIL": "b"})[0] == {"upper": "b"}
    assert mapper.map({"email": "a", "EMAIL": "b"})[0] == {"lower": "a", "upper": "b"}

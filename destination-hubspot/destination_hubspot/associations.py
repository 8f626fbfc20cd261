"""After a batch is written: link its records to other objects found by a unique property.

On every API version the same two batch calls (create with a type, associate/default without one).
What the dated versions change does not matter here: batch/create answers 200 instead of 201 on 2026-09,
record ids come back as strings (errors are read as text either way), and 2026-09 may list errors in a
200 instead of a 207 (read in any 2xx). The per-record association GET that 2026-09 drops is not used.
"""

from __future__ import annotations

from typing import Any

from destination_hubspot.client import HubSpotClient, texts
from destination_hubspot.config import Association

SEARCH_VALUES = 100  # values per IN filter


class AssociationWriter:
    def __init__(self, client: HubSpotClient, from_path: str, association: Association, to_path: str) -> None:
        self.client = client
        self.from_path = from_path
        self.to_path = to_path
        self.spec = association

    def link(self, pairs: list[tuple[int, str, Any]]) -> dict[int, str]:
        """(position, from id, target value) → problems by position; the rest were associated."""
        problems: dict[int, str] = {}
        values = sorted({str(value).lower() for _, _, value in pairs})  # IN on strings wants lower case
        targets = self._lookup(values)
        inputs, positions = [], []
        for position, from_id, value in pairs:
            to_id = targets.get(str(value).lower())
            if to_id is None:
                problems[position] = (
                    f"written, but no {self.spec.to_object} record has {self.spec.to_property}={value!r} "
                    "to associate with"
                )
                continue
            link: dict[str, Any] = {"from": {"id": from_id}, "to": {"id": to_id}}
            if self.spec.association_type_id is not None:
                link["types"] = [
                    {
                        "associationCategory": self.spec.association_category,
                        "associationTypeId": self.spec.association_type_id,
                    }
                ]
            inputs.append(link)
            positions.append(position)
        if inputs:
            kind = "create" if self.spec.association_type_id is not None else "associate/default"
            path = self.client.path("associations", self.from_path, self.to_path, "batch", kind)
            response = self.client.post(path, {"inputs": inputs})
            if response.status_code >= 400:
                status = response.status_code
                body = self.client.body_excerpt(response)
                reason = f"written, but the association failed: HTTP {status} {body}"
                problems.update(dict.fromkeys(positions, reason))
            elif response.status_code != 204:
                errors = self.client.json_body(response).get("errors")
                failed = (
                    {i for e in errors if isinstance(e, dict) for i in _ids(e)}
                    if isinstance(errors, list)
                    else set()
                )
                for position, link in zip(positions, inputs, strict=True):
                    if link["from"]["id"] in failed:
                        problems[position] = "written, but HubSpot refused the association"
        return problems

    def _lookup(self, values: list[str]) -> dict[str, str]:
        """Target value (lower-cased: domains and emails compare that way) → record id.

        Search, not batch/read: lookup properties such as a company's domain are not unique, and
        batch/read accepts only unique ones as idProperty.
        """
        found: dict[str, str] = {}
        for start in range(0, len(values), SEARCH_VALUES):
            chunk = values[start : start + SEARCH_VALUES]
            filters = [{"propertyName": self.spec.to_property, "operator": "IN", "values": chunk}]
            body = {
                "filterGroups": [{"filters": filters}],
                "properties": [self.spec.to_property],
                "limit": 100,
                "after": "0",
                "sorts": [],
            }
            for result in self.client.search(self.to_path, body):
                properties = result.get("properties")
                value = properties.get(self.spec.to_property) if isinstance(properties, dict) else None
                if value is not None:
                    found.setdefault(str(value).lower(), str(result["id"]))
        return found


def _ids(error: dict[str, Any]) -> list[str]:
    context = error.get("context")
    if not isinstance(context, dict):
        return []
    return [*texts(context.get("fromObjectId")), *texts(context.get("ids"))]

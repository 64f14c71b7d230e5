"""What differs between rules and targets (model, identity, endpoints), and the HTTP calls to the API."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from core.aspects import UNCHECKED  # the API checks aspect names against its configuration
from alerts.rules import Rule
from core.dimensions import all_dimensions
from schemas.gaps import TargetIn

Record = dict[str, Any]  # one rule or target as ``model_dump(mode="json")``, normalized


class ApiError(RuntimeError):
    """The API was unreachable (``status`` 0) or refused a request (``detail``: its answer)."""

    def __init__(self, message: str, status: int = 0, detail: Any = None) -> None:
        super().__init__(message)
        self.status, self.detail = status, detail


def call_api(api: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request; an unreachable API or an HTTP error answer raises ``ApiError``."""
    try:
        r = api.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise ApiError(f"cannot reach the API at {api.base_url}: {exc}") from None
    if r.status_code >= 400:
        try:
            body = r.json()
            detail = body.get("detail", body) if isinstance(body, dict) else body
        except ValueError:
            detail = r.text
        raise ApiError(f"{method} {url}: HTTP {r.status_code}: {detail}", r.status_code, detail)
    return r


class _TargetEntry(TargetIn):
    """A target in a file: the API body, with unknown (misspelt) fields rejected."""

    model_config = ConfigDict(extra="forbid")


def _iso_ms(dt: datetime | None) -> str | None:
    """UTC, millisecond precision: what the warehouse keeps, so file and server compare equal."""
    if dt is None:
        return None
    ms = int(dt.astimezone(timezone.utc).timestamp() * 1000)
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


class Resource:
    """What differs between rules and targets: the model, the identity and the endpoints."""

    name: ClassVar[str]  # the file's list key and the command name
    model: ClassVar[type[BaseModel]]

    def record(self, item: BaseModel) -> Record:
        return item.model_dump(mode="json")

    def key(self, rec: Record) -> str:
        raise NotImplementedError

    def from_server(self, item: dict[str, Any]) -> Record:
        """A server item as a record; fields the client's model does not know are dropped."""
        try:
            return self.record(self.model.model_validate({k: v for k, v in item.items()
                                                          if k in self.model.model_fields}, context=UNCHECKED))
        except ValidationError as exc:  # a newer server: better stop than diff against a guess
            raise ApiError(f"the server's {self.name} include one this client cannot read ({item}): {exc}") from None

    def list(self, api: httpx.Client) -> list[Record]:
        raise NotImplementedError

    def put(self, api: httpx.Client, rec: Record, dry_run: bool = False) -> None:
        raise NotImplementedError

    def delete(self, api: httpx.Client, rec: Record) -> None:
        raise NotImplementedError

    checks_on_server: ClassVar[bool] = False  # put(dry_run=True) validates beyond the model


class _Rules(Resource):
    name = "rules"
    model = Rule
    checks_on_server = True

    def key(self, rec: Record) -> str:
        return rec["id"]

    def list(self, api: httpx.Client) -> list[Record]:
        return [self.from_server(r) for r in call_api(api, "GET", "/v1/alert-rules").json()["data"]]

    def put(self, api: httpx.Client, rec: Record, dry_run: bool = False) -> None:
        body = {k: v for k, v in rec.items() if k != "id"}
        call_api(api, "PUT", f"/v1/alert-rules/{rec['id']}", json=body, params={"dry_run": "true"} if dry_run else None)

    def delete(self, api: httpx.Client, rec: Record) -> None:
        call_api(api, "DELETE", f"/v1/alert-rules/{rec['id']}")


class _Targets(Resource):
    name = "targets"
    model = _TargetEntry

    def record(self, item: BaseModel) -> Record:
        rec = item.model_dump(mode="json")
        rec["scope"] = {d: rec["scope"][d] for d in all_dimensions() if d in rec["scope"]}
        rec["valid_from"], rec["valid_to"] = _iso_ms(item.valid_from), _iso_ms(item.valid_to)
        return rec

    def key(self, rec: Record) -> str:
        scope = ",".join(f"{d}={v}" for d, v in rec["scope"].items())
        return f"{rec['metric']}{{{scope}}} from {rec['valid_from']}"

    def list(self, api: httpx.Client) -> list[Record]:
        return [self.from_server(t) for t in call_api(api, "GET", "/v1/targets").json()["data"]]

    def put(self, api: httpx.Client, rec: Record, dry_run: bool = False) -> None:
        if not dry_run:  # the model is all the server checks
            call_api(api, "PUT", "/v1/targets", json=rec)

    def delete(self, api: httpx.Client, rec: Record) -> None:
        call_api(api, "DELETE", "/v1/targets",
              params={"metric": rec["metric"], "valid_from": rec["valid_from"], **rec["scope"]})


RULES, TARGETS = _Rules(), _Targets()
RESOURCES: dict[str, Resource] = {r.name: r for r in (RULES, TARGETS)}

"""/v1/api-keys: create, list, rotate and revoke the tenant's stored API keys (``admin`` scope).

A key is created for the caller's own tenant only, and its secret is in the creation (or rotation)
answer only: the warehouse keeps its SHA-256 (``core.api_keys``). Another tenant's key id is a 404.
Rotation creates a new key with the same name, scopes, expiry and limits and revokes the old one
(at once, or after ``grace_s``). Changes take effect at once in this process (``api.keys``). No SQL here.
"""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from api.audit_trail import audit
from api.deps import AdminCaller, ServicesDep
from api.keys import KeyRegistry, refusal
from api.params import from_ms, to_ms, unprocessable
from api.responses import SCOPED, errors
from core.api_keys import hash_token, new_key_id, new_token
from schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyPublic, ApiKeyRotate
from warehouse.key_queries import KeyRow, get_key, last_used, list_keys, put_key

router = APIRouter(prefix="/v1", tags=["api-keys"], responses=errors(*SCOPED))


def _public(k: KeyRow, now_ms: int, used_ms: int | None) -> ApiKeyPublic:
    why = refusal(k, now_ms)
    return ApiKeyPublic(
        key_id=k.key_id, tenant=k.tenant, name=k.name, scopes=list(k.scopes),
        state="active" if why is None else "revoked" if why.startswith("API key revoked") else "expired",
        created_at=from_ms(k.created_at_ms), created_by=k.created_by, expires_at=from_ms(k.expires_at_ms),
        revoked_at=from_ms(k.revoked_at_ms), rotated_to=k.rotated_to or None, last_used_at=from_ms(used_ms),
        rate_per_s=k.rate_per_s, burst=k.burst)


def _keys(services: ServicesDep) -> KeyRegistry:
    assert services.keys is not None
    return services.keys


async def _existing(services: ServicesDep, tenant: str, key_id: str) -> KeyRow:
    row = await get_key(services.warehouse, tenant, key_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no API key {key_id!r}")
    return row


async def _issue(services: ServicesDep, row: KeyRow) -> tuple[KeyRow, str]:
    """Store ``row`` with a fresh secret's hash; returns it and the secret (never stored)."""
    token = new_token(row.tenant, row.key_id)
    row = row.changed(hash=hash_token(token))
    await put_key(services.warehouse, row)
    _keys(services).stored(row)
    return row, token


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated,
             responses=errors(400, 409, e403="The key lacks the `admin` scope, or the body names another tenant",
                              e409="The tenant has `api.max_keys_per_tenant` usable keys already"),
             summary="Create an API key for the caller's tenant (the key is returned only here)")
async def create_key(body: ApiKeyCreate, caller: AdminCaller, services: ServicesDep) -> ApiKeyCreated:
    if body.tenant is not None and body.tenant != caller.tenant:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "an admin key creates keys for its own tenant only")
    now = _keys(services).now_ms()
    expires = to_ms(body.expires_at) if body.expires_at else None
    if expires is not None and expires <= now:
        raise unprocessable(["body", "expires_at"], "is in the past")
    usable = [k for k in await list_keys(services.warehouse, caller.tenant) if refusal(k, now) is None]
    if len(usable) >= services.settings.api.max_keys_per_tenant:
        raise HTTPException(status.HTTP_409_CONFLICT, f"this tenant has {len(usable)} usable API keys, the most "
                            "api.max_keys_per_tenant allows; revoke one first")
    row, token = await _issue(services, KeyRow(
        tenant=caller.tenant, key_id=new_key_id(), hash="", name=body.name, scopes=tuple(sorted(set(body.scopes))),
        rate_per_s=body.rate_per_s, burst=body.burst, created_at_ms=now, created_by=caller.key_id,
        expires_at_ms=expires))
    await audit(services, caller, "api_key.create", row.key_id, name=row.name, scopes=list(row.scopes),
                expires_at_ms=expires)
    return ApiKeyCreated(**_public(row, now, None).model_dump(), key=token)


@router.get("/api-keys", response_model=ApiKeyList, summary="The tenant's API keys (no secrets)")
async def list_api_keys(caller: AdminCaller, services: ServicesDep) -> ApiKeyList:
    now = _keys(services).now_ms()
    rows = await list_keys(services.warehouse, caller.tenant)
    used = await last_used(services.warehouse, caller.tenant)
    data = [_public(r, now, used.get(r.key_id)) for r in rows]
    return ApiKeyList(data=data, count=len(data))


@router.post("/api-keys/{key_id}/rotate", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated,
             responses=errors(400, 404, 409, e409="The key is revoked or expired already"),
             summary="Replace a key by a new one (returned only here); the old one is revoked, after grace_s")
async def rotate_key(key_id: str, caller: AdminCaller, services: ServicesDep,
                     body: ApiKeyRotate | None = None) -> ApiKeyCreated:
    old = await _existing(services, caller.tenant, key_id)
    now = _keys(services).now_ms()
    why = refusal(old, now)
    if why:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{why}: create a new key instead")
    grace_s = (body or ApiKeyRotate()).grace_s
    new, token = await _issue(services, old.changed(key_id=new_key_id(), created_at_ms=now,
                                                    created_by=caller.key_id, revoked_at_ms=None, rotated_to=""))
    retired = old.changed(revoked_at_ms=now + grace_s * 1000, rotated_to=new.key_id)
    await put_key(services.warehouse, retired)
    _keys(services).stored(retired)
    await audit(services, caller, "api_key.rotate", key_id, new_key_id=new.key_id, grace_s=grace_s)
    return ApiKeyCreated(**_public(new, now, None).model_dump(), key=token)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a key now",
               responses=errors(404))
async def revoke_key(key_id: str, caller: AdminCaller, services: ServicesDep) -> Response:
    row = await _existing(services, caller.tenant, key_id)
    now = _keys(services).now_ms()
    if row.revoked_at_ms is None or row.revoked_at_ms > now:  # revoking twice changes nothing
        row = row.changed(revoked_at_ms=now)
        await put_key(services.warehouse, row)
        _keys(services).stored(row)
        await audit(services, caller, "api_key.revoke", key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

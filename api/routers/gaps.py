"""/v1/gaps endpoints."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["gaps"])

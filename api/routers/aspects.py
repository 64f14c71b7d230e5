"""GET /v1/aspects: the rated aspects this deployment is configured with (``aspects`` setting).

What clients and the board need to ask for them (``metric=aspect:<name>``, ``aspect_top2:<name>``)
and to show them (label, scale). The catalog is the deployment's, the same for every tenant; the
route still needs a ``read`` key like every other read.
"""
from __future__ import annotations

from fastapi import APIRouter

from api.deps import ReadCaller
from api.responses import SCOPED, errors
from core import aspects as aspect_config
from schemas.aspects import AspectList, AspectPublic

router = APIRouter(prefix="/v1", tags=["kpis"])


@router.get("/aspects", response_model=AspectList, summary="The configured rated aspects and their scales",
            responses=errors(*SCOPED))
async def list_aspects(caller: ReadCaller) -> AspectList:
    """Each configured aspect with its label, scale (`min`..`max`), top-2-box threshold and the metric
    names it answers to on `/v1/kpis`, `/v1/gaps`, targets, alert rules and drill-down, by name."""
    data = [AspectPublic(name=s.name, label=s.label, min=s.min, max=s.max, top2_min=s.top2_min,
                         metrics=[f"aspect:{s.name}", f"aspect_top2:{s.name}"])
            for s in sorted(aspect_config.aspects().values(), key=lambda s: s.name)]
    return AspectList(data=data, count=len(data))

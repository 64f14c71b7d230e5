"""/v1/gaps (detected gaps, by severity) and /v1/targets (KPI targets per scope and period)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status

from api.audit_trail import audit
from api.deps import AdminCaller, ReadCaller, ServicesDep
from api.responses import SCOPED, errors
from api.params import (FiltersDep, GapMetricParam, IsoDateTime, from_ms, gap_metric, source_for, to_ms,
                        unprocessable, utc, view_for)
from gaps.detect import DataGap, Gap, GapKind, SegmentGap
from core import aspects as aspect_config
from gaps.aspect_explain import explained_by_aspects
from gaps.gaming import GamingGap
from gaps.evaluate import LIVE_KINDS, GapQuery, baseline_period_ms, evaluate_window
from kpi.measures import AspectMetric
from core.dimensions import DIMENSIONS, all_dimensions
from schemas.gaps import (
    AspectExplanation,
    GapList,
    GapMetric,
    GapPublic,
    ObservedValue,
    ReferenceValue,
    TargetIn,
    TargetList,
    TargetPublic,
)
from warehouse import gap_queries
from warehouse.count_sources import CountSource
from warehouse.gap_queries import TargetRow

#: ``kind`` is a comma-separated subset of the gap kinds; the pattern states the closed set in the document.
_KINDS = ",".join(k.value for k in GapKind)
_KINDS_PATTERN = "^(({0})(,({0}))*)?$".format("|".join(k.value for k in GapKind))
#: Evaluated unless ``kind`` names others: every kind but ``gaming``, which is asked for by name.
_DEFAULT_KINDS = ",".join(k.value for k in GapKind if k is not GapKind.gaming)

router = APIRouter(prefix="/v1", tags=["gaps"], responses=errors(*SCOPED))

@router.get(
    "/gaps",
    response_model=GapList,
    summary="Target, segment, baseline and data gaps, by severity",
    description=(
        "Evaluates the last complete window before `at` (default now). Any query parameter named like a "
        f"dimension ({', '.join(DIMENSIONS)}) restricts the scope, e.g. `channel=chat`. `dimension` names "
        "the dimension whose values are compared (segment gaps) and checked one by one (target, baseline, "
        "data gaps). Baseline: `1h` = the same hour of the previous weeks, `1d` = the previous days. "
        "`live`: baseline and data gaps of the last minutes (rolling lengths `gaps.live_lengths_min`) against "
        "the scope's own history, as gap alert rules see them; target and segment kinds are not evaluated live. "
        "`1h`/`1d` are read from a stored view holding the scope's and `dimension`'s dimensions, else from the "
        "ledger (same counts); `live` needs a stored view. `source` says which answered. A configured rated "
        "aspect is a gap metric: `aspect:<name>` (mean, Welch's t test, severity on the aspect's scale "
        "max − min) or `aspect_top2:<name>` (top-2-box %, two-proportion test), `live` included (minimum drop: a tenth of "
        "the scale for the mean, 8 points for the top-2 box)."
    ),
)
async def get_gaps(
    caller: ReadCaller,
    services: ServicesDep,
    filters: FiltersDep,
    metric: GapMetricParam = "nps",
    window: Literal["1h", "1d", "live"] = "1h",
    kind: Annotated[str, Query(pattern=_KINDS_PATTERN, description=(
        f"Comma-separated, of: {_KINDS}. Default: all but `gaming`. `gaming` (needs `dimension`, e.g. "
        "`agent_id` or `team`): each value whose surveyed share of contacts (invitations / touchpoints) is "
        "below its peers' while its score is above theirs; p-value of the intersection-union test (the larger "
        "of the two one-sided p-values), Holm-corrected over the values tested (`p_adjusted` < `alpha`)."))] = _DEFAULT_KINDS,
    dimension: Annotated[str | None, Query(description="A built-in or custom dimension")] = None,
    at: Annotated[IsoDateTime | None, Query(description="ISO-8601; default now")] = None,
    significant_only: bool = True,
) -> GapList:
    parsed = gap_metric(metric)
    try:
        kinds = frozenset(GapKind(k) for k in kind.split(",") if k)
    except ValueError:
        raise unprocessable("kind", f"kinds are {[k.value for k in GapKind]}") from None
    dim = dimension or None
    if dim is not None and dim not in all_dimensions():
        raise unprocessable("dimension", f"unknown dimension {dim!r}; allowed: {list(all_dimensions())}")
    if dim is not None and dim in filters:
        raise unprocessable("dimension", f"{dim!r} is also a filter")
    views = services.settings.stream.views
    if window == "live":  # the live frame reads minutes: a stored view only
        source = CountSource(view_for(views, set(filters) | ({dim} if dim else set()), "dimension"))
    else:
        source = source_for(views, (dim,) if dim else (), filters, "dimension")
    gs = services.settings.gaps
    at_dt = utc(at) if at else datetime.now(timezone.utc)
    q = GapQuery(metric=parsed, window=window, at_ms=int(at_dt.timestamp() * 1000),
                 kinds=kinds & LIVE_KINDS if window == "live" else kinds, scope=filters, dimension=dim)
    win, gaps = await evaluate_window(services.warehouse, caller.tenant, q, source, views, gs)
    shown = [g for g in gaps if g.significant or not significant_only]
    data = [gap_public(g) for g in shown]
    if window != "live":
        specs = aspect_config.aspects()
        explained = await explained_by_aspects(services.warehouse, caller.tenant, q.metric, filters, dim, win,
                                               baseline_period_ms(window), shown)
        for public, changes in zip(data, explained):
            if changes is not None:
                public.explained_by_aspects = [AspectExplanation(
                    aspect=c.aspect, label=specs[c.aspect].label if c.aspect in specs else c.aspect,
                    mean_observed=c.mean_now, mean_reference=c.mean_before, change=c.change, slope=c.slope,
                    explained=c.explained, n_observed=c.n_now, n_reference=c.n_before) for c in changes]
    return GapList(metric=parsed.value, window=window, window_start=from_ms(win.start_ms), window_end=from_ms(win.end_ms),
                   confidence=gs.confidence, kinds=sorted(k.value for k in q.kinds), dimension=dim, filters=filters,
                   source=source.name, data=data, count=len(data))


@router.put("/targets", response_model=TargetPublic, summary="Set the target of a metric for a scope and period",
            responses=errors(400))
async def put_target(body: TargetIn, caller: AdminCaller, services: ServicesDep) -> TargetPublic:
    row = TargetRow(
        metric=_metric_name(body.metric), scope=dict(body.scope), value=body.value,
        valid_from_ms=to_ms(body.valid_from), valid_to_ms=to_ms(body.valid_to) if body.valid_to else None,
    )
    await gap_queries.put_target(services.warehouse, caller.tenant, row)
    await audit(services, caller, "target.put", _target_name(row.metric, row.scope, row.valid_from_ms),
                value=row.value, valid_to_ms=row.valid_to_ms)
    return _target_public(row)


def _target_name(metric: str, scope: dict[str, str], valid_from_ms: int) -> str:
    """How the audit log names a target, by its identity: ``<metric>|<dim=value,...>|<valid_from_ms>``."""
    return f"{metric}|{gap_queries.scope_key(scope).replace(chr(0x1f), ',')}|{valid_from_ms}"


@router.get("/targets", response_model=TargetList, summary="The tenant's KPI targets")
async def list_targets(caller: ReadCaller, services: ServicesDep, metric: GapMetricParam | None = None) -> TargetList:
    # Spelling only (the pattern): the targets of an aspect no longer configured can still be listed.
    rows = await gap_queries.list_targets(services.warehouse, caller.tenant, metric or None)
    data = [_target_public(r) for r in rows]
    return TargetList(data=data, count=len(data))


@router.delete("/targets", status_code=204, summary="Delete the target of a metric for a scope and period",
               responses=errors(404),
               description="The target is named as it was put: `metric`, `valid_from` and its scope as query "
               f"parameters named like dimensions ({', '.join(DIMENSIONS)}), e.g. `channel=chat`; none = the tenant.")
async def delete_target(caller: AdminCaller, services: ServicesDep, scope: FiltersDep, metric: GapMetricParam,
                        valid_from: IsoDateTime) -> Response:
    # A target on an aspect no longer configured can still be deleted: only the spelling is checked here.
    name = metric
    if not await gap_queries.delete_target(services.warehouse, caller.tenant, name, scope, to_ms(valid_from)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such target")
    await audit(services, caller, "target.delete", _target_name(name, scope, to_ms(valid_from)))
    return Response(status_code=204)


def _metric_name(metric: GapMetric | str) -> str:
    return metric.value if isinstance(metric, GapMetric) else metric


def _target_public(r: TargetRow) -> TargetPublic:
    return TargetPublic.model_construct(
        metric=r.metric if AspectMetric.parse(r.metric) is not None else GapMetric(r.metric), scope=dict(r.scope), value=r.value, valid_from=from_ms(r.valid_from_ms),
        valid_to=from_ms(r.valid_to_ms) if r.valid_to_ms is not None else None,
    )


def gap_public(g: Gap) -> GapPublic:
    o, r = g.observed, g.reference
    return GapPublic(
        kind=g.kind.value, metric=g.metric.value, scope=dict(g.scope), window_start=from_ms(g.window.start_ms),
        window_end=from_ms(g.window.end_ms),
        observed=ObservedValue(value=o.value, n=o.n, ci_low=o.ci_low, ci_high=o.ci_high, low_sample=o.low_sample,
                               counts=o.counts),
        reference=ReferenceValue(kind=r.kind, value=r.value, n=r.n, ci_low=r.ci_low, ci_high=r.ci_high,
                                 periods=r.periods),
        gap=g.gap, p_value=g.p_value, alpha=g.alpha, significant=g.significant, low_sample=g.low_sample,
        severity=g.severity,
        dimension=g.dimension if isinstance(g, (SegmentGap, GamingGap)) else None,
        segment=g.segment if isinstance(g, (SegmentGap, GamingGap)) else None,
        comparisons=getattr(g, "comparisons", None),
        status=g.status.value if isinstance(g, DataGap) else None,
        **({"surveyed_share": g.surveyed_share, "peer_surveyed_share": g.peer_surveyed_share, "p_share": g.p_share,
            "p_score": g.p_score, "p_adjusted": g.p_adjusted, "correction": "holm"} if isinstance(g, GamingGap) else {}),
    )

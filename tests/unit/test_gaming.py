"""Gaming detection (gaps.gaming): one planted agent among 20 honest ones is the only one found,
with p-values computed here independently (pooled two-proportion z, adjusted-Wald NPS z, the
intersection-union max, Holm's step-down)."""
from __future__ import annotations

import math
import random
from statistics import NormalDist

from hypothesis import given
from hypothesis import strategies as st

from gaps.detect import GapKind, Thresholds, Window
from gaps.gaming import gaming_gaps
from kpi.counts import KpiCounts
from kpi.stats import holm_adjusted

WIN = Window(0, 86_400_000)
PHI = NormalDist()


def agent(rng: random.Random, contacts: int, share: float, p_promoter: float, p_detractor: float) -> KpiCounts:
    """Counters of one agent's day: each contact invited with probability ``share``, each invited one
    answering NPS (promoter / passive / detractor)."""
    c = KpiCounts(touchpoints=contacts)
    for _ in range(contacts):
        if rng.random() < share:
            c.invitations += 1
            u = rng.random()
            if u < p_promoter:
                c.promoters += 1
            elif u < p_promoter + p_detractor:
                c.detractors += 1
            else:
                c.passives += 1
    c.nps_n = c.promoters + c.passives + c.detractors
    c.responses = c.nps_n
    return c


def independent_p(a: KpiCounts, rest: KpiCounts) -> float:
    return max(independent_one_sided(a, rest))


def independent_one_sided(a: KpiCounts, rest: KpiCounts) -> tuple[float, float]:
    """(p_share, p_score): the agent's surveyed share below the rest's, its NPS above theirs."""
    x1, n1, x2, n2 = a.invitations, a.touchpoints, rest.invitations, rest.touchpoints
    pooled = (x1 + x2) / (n1 + n2)
    z_share = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))

    def adjusted(c: KpiCounts) -> tuple[float, float, float]:
        n = c.promoters + c.passives + c.detractors + 3
        pp, pd = (c.promoters + 0.75) / n, (c.detractors + 0.75) / n
        return pp - pd, pp + pd - (pp - pd) ** 2, n

    (d1, v1, m1), (d2, v2, m2) = adjusted(a), adjusted(rest)
    z_nps = (d1 - d2) / math.sqrt(v1 / m1 + v2 / m2)
    return PHI.cdf(z_share), 1 - PHI.cdf(z_nps)


def holm_reference(raw: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values, by name: p~_(k) = max_(j<=k) min(1, (m - j + 1) p_(j))."""
    names = sorted(raw, key=raw.get)
    holm, running = {}, 0.0
    for k, name in enumerate(names):
        running = max(running, min(1.0, (len(names) - k) * raw[name]))
        holm[name] = running
    return holm


def test_the_planted_agent_is_the_only_one_detected():
    rng = random.Random(20261201)
    agents = {f"a{i:02d}": agent(rng, 400, 0.5, 0.45, 0.25) for i in range(20)}
    agents["gamer"] = agent(rng, 400, 0.25, 0.75, 0.08)  # surveys a quarter of contacts, the happy ones
    gaps = gaming_gaps("nps", agents, dimension="agent_id", scope={"team": "t1"}, window=WIN,
                       thresholds=Thresholds(min_n=30))
    assert [g.segment for g in gaps if g.significant] == ["gamer"]
    assert all(g.kind is GapKind.gaming and g.comparisons == 21 for g in gaps)

    total = KpiCounts()
    for c in agents.values():
        total.add(c)
    raw = {}
    for name, c in agents.items():
        rest = total.copy()
        rest.subtract(c)
        raw[name] = independent_p(c, rest)
    holm = holm_reference(raw)
    for g in gaps:
        assert math.isclose(g.p_value, raw[g.segment], rel_tol=1e-9, abs_tol=1e-15), g.segment
        assert math.isclose(g.p_adjusted, holm[g.segment], rel_tol=1e-9, abs_tol=1e-15), g.segment
        assert g.significant == (holm[g.segment] < 0.05)
        assert g.scope == {"team": "t1", "agent_id": g.segment}
    gamer = next(g for g in gaps if g.segment == "gamer")
    assert gamer.surveyed_share == agents["gamer"].invitations / 400 and gamer.gap < 0 and gamer.severity > 0


def test_an_agent_with_a_high_score_but_a_normal_share_is_not_gaming():
    rng = random.Random(7)
    agents = {f"a{i:02d}": agent(rng, 400, 0.5, 0.45, 0.25) for i in range(20)}
    agents["star"] = agent(rng, 400, 0.5, 0.8, 0.05)  # really better: surveys as many as the others
    agents["shy"] = agent(rng, 400, 0.2, 0.45, 0.25)  # surveys few, scores like the others
    gaps = gaming_gaps("nps", agents, dimension="agent_id", scope={}, window=WIN, thresholds=Thresholds(min_n=30))
    assert not [g.segment for g in gaps if g.significant]
    star = next(g for g in gaps if g.segment == "star")
    assert star.p_score < 1e-6 and star.p_share > 0.05  # the max keeps it out


def test_low_samples_are_not_tested():
    agents = {"a": KpiCounts(touchpoints=10, invitations=5, nps_n=5, promoters=5, responses=5),
              "b": KpiCounts(touchpoints=100, invitations=50, nps_n=50, promoters=20, passives=20, detractors=10,
                             responses=50)}
    assert [g.segment for g in gaming_gaps("nps", agents, dimension="agent_id", scope={}, window=WIN)] == []


@given(st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=30))
def test_holm_adjusted_is_monotone_in_the_p_order_and_bounded(ps):
    adj = holm_adjusted(ps)
    assert all(p <= a <= 1.0 for p, a in zip(ps, adj))
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    assert all(adj[i] <= adj[j] for i, j in zip(order, order[1:]))
    m = len(ps)
    assert math.isclose(adj[order[0]], min(1.0, m * ps[order[0]]))

"""Independent reference computations for tests (deliberately naive: no shared code
with the pipeline beyond the event contract)."""
from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from datetime import datetime
from typing import Any, Callable, Iterable


#: The documented default experience definitions (docs/configuration.md, ``experience``), written out:
#: metric -> (highest negative score, lowest positive score); None = never.
DEFAULT_EXPERIENCE = {"nps": (6, 9), "csat": (2, 4), "ces": (3, 6), "review": (2, 4), "mention_score": (-0.05, 0.05)}


def count_record(c: Any, r: dict[str, Any], experience: dict[str, tuple[Any, Any]] | None = None) -> None:
    """Add one pipeline record (``schemas.records`` shape) to the counters ``c`` (a ``KpiCounts``),
    written out from the counting rules of the docs, not from ``kpi.counts``. Invitations are
    counted by the caller (whether one is answered depends on the other records). ``experience``:
    the positive / negative bounds in force (default :data:`DEFAULT_EXPERIENCE`)."""
    ex = {**DEFAULT_EXPERIENCE, **(experience or {})}

    def negative(metric: str, v: Any) -> bool:
        return v is not None and ex[metric][0] is not None and v <= ex[metric][0]

    def positive(metric: str, v: Any) -> bool:
        return v is not None and ex[metric][1] is not None and v >= ex[metric][1]

    if r["type"] == "cx.signal.v1":
        kind = r["kind"]
        c.sig_n += 1
        if kind == "review":
            c.sig_reviews += 1
            c.sig_rating_sum += r["rating"]
            c.sig_rating_sumsq += r["rating"] ** 2
            c.sig_polar_n += 1
            c.sig_negative += negative("review", r["rating"])
            c.sig_positive += positive("review", r["rating"])
        elif kind == "mention":
            c.sig_polar_n += 1
            if r.get("sentiment") is not None:  # the label wins; neutral is neither
                c.sig_negative += r["sentiment"] == "negative"
                c.sig_positive += r["sentiment"] == "positive"
            else:
                c.sig_negative += negative("mention_score", r.get("score"))
                c.sig_positive += positive("mention_score", r.get("score"))
        else:
            assert kind in ("like", "share", "comment"), kind
            c.sig_engagement += 1
        return
    if r["type"] == "cx.touchpoint.v1":
        c.touchpoints += 1
        if r.get("first_contact") is True:
            c.tp_first_contact += 1
            c.tp_first_contact_resolved += r.get("resolved") is True
        for flag in ("converted", "abandoned", "transferred"):  # n: the touchpoints stating the flag
            if r.get(flag) is not None:
                setattr(c, f"tp_{flag}_n", getattr(c, f"tp_{flag}_n") + 1)
                setattr(c, f"tp_{flag}", getattr(c, f"tp_{flag}") + (r[flag] is True))
        # Durations in whole deciseconds, half up; an abandoned contact has no handle time.
        for name, seconds in (("wait", r.get("wait_s")),
                              ("handle", None if r.get("abandoned") is True else r.get("handle_s"))):
            if seconds is not None:
                ds = math.floor(seconds * 10 + 0.5)
                setattr(c, f"tp_{name}_n", getattr(c, f"tp_{name}_n") + 1)
                setattr(c, f"tp_{name}_ds", getattr(c, f"tp_{name}_ds") + ds)
                setattr(c, f"tp_{name}_ds2", getattr(c, f"tp_{name}_ds2") + ds * ds)
        return
    assert r["type"] == "cx.survey.response.v1", r["type"]
    nps, csat, ces, fcr = r.get("nps"), r.get("csat"), r.get("ces"), r.get("fcr")
    c.responses += 1
    if nps is not None:
        c.nps_n += 1
        c.promoters += nps >= 9
        c.passives += 7 <= nps <= 8
        c.detractors += nps <= 6
    if csat is not None:
        c.csat_n += 1
        c.csat_sum += csat
        c.csat_top2 += csat >= 4
    if ces is not None:
        c.ces_n += 1
        c.ces_sum += ces
        c.ces_sumsq += ces ** 2
    if fcr is not None:
        c.fcr_n += 1
        c.fcr_yes += fcr is True
    # One experience per answer: negative if any score is (by default NPS 0-6, CSAT 1-2, CES 1-3), else
    # positive if any is (NPS 9-10, CSAT 4-5, CES 6-7).
    scores = [("nps", nps), ("csat", csat), ("ces", ces)]
    bad = any(negative(m, v) for m, v in scores)
    c.answers_negative += bad
    c.answers_positive += not bad and any(positive(m, v) for m, v in scores)


def parse_ms(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def expected_kpis(events: Iterable[dict[str, Any]], size_ms: int, dimension: str | None) -> dict:
    """{(window_start_ms, group value): totals} straight from CloudEvents.

    An answer counts at its own time with the dimension of its touchpoint
    (respondent overrides win); answers without a known touchpoint count under "".
    An invitation counts as answered (``invitations_answered``, in its own window)
    when any answer carries its (non-empty) interaction id, whenever it arrived.
    """
    events = list(events)
    seen: set[tuple[str, str]] = set()
    unique = []
    for e in events:
        if (e["source"], e["id"]) not in seen:
            seen.add((e["source"], e["id"]))
            unique.append(e)
    tp_dims = {e["data"]["interaction_id"]: e["data"] for e in unique if e["type"] == "cx.touchpoint.v1"}
    answered = {e["data"].get("interaction_id") for e in unique if e["type"] == "cx.survey.response.v1"} - {None, ""}
    out: dict = defaultdict(lambda: defaultdict(float))
    for e in unique:
        d = e["data"]
        ws = parse_ms(e["time"]) // size_ms * size_ms
        if e["type"] == "cx.touchpoint.v1":
            g = d.get(dimension, "") if dimension else ""
            t = out[(ws, g)]
            t["touchpoints"] += 1
            if d.get("first_contact") is True:
                t["tp_first_contact"] += 1
                if d.get("resolved") is True:
                    t["tp_first_contact_resolved"] += 1
            for flag in ("converted", "abandoned", "transferred"):  # n: the touchpoints stating the flag
                if d.get(flag) is not None:
                    t[f"tp_{flag}_n"] += 1
                    t[f"tp_{flag}"] += d[flag] is True
            # Durations in whole deciseconds (the documented counting unit); no handle time when abandoned.
            for name, seconds in (("wait", d.get("wait_s")),
                                  ("handle", None if d.get("abandoned") is True else d.get("handle_s"))):
                if seconds is not None:
                    ds = math.floor(seconds * 10 + 0.5)
                    t[f"tp_{name}_n"] += 1
                    t[f"tp_{name}_ds"] += ds
                    t[f"tp_{name}_ds2"] += ds * ds
            continue
        source = tp_dims.get(d.get("interaction_id"), {}) if d.get("interaction_id") else {}
        g = (d.get(dimension) or source.get(dimension, "")) if dimension else ""
        t = out[(ws, g)]
        if e["type"] == "cx.survey.invitation.v1":
            t["invitations"] += 1
            t["invitations_answered"] += d.get("interaction_id") in answered
            continue
        t["responses"] += 1
        a = d["answers"]
        if "nps" in a:
            t["nps_n"] += 1
            t["promoters"] += a["nps"] >= 9
            t["passives"] += 7 <= a["nps"] <= 8
            t["detractors"] += a["nps"] <= 6
        if "csat" in a:
            t["csat_n"] += 1
            t["csat_top2"] += a["csat"] >= 4
            t["csat_sum"] += a["csat"]
        if "ces" in a:
            t["ces_n"] += 1
            t["ces_sum"] += a["ces"]
            t["ces_sumsq"] += a["ces"] ** 2
        if "fcr" in a:
            t["fcr_n"] += 1
            t["fcr_yes"] += a["fcr"] is True
        # One experience per answer: negative if any score is (NPS 0-6, CSAT 1-2, CES 1-3), else
        # positive if any is (NPS 9-10, CSAT 4-5, CES 6-7).
        negative = a.get("nps", 99) <= 6 or a.get("csat", 99) <= 2 or a.get("ces", 99) <= 3
        positive = a.get("nps", -1) >= 9 or a.get("csat", -1) >= 4 or a.get("ces", -1) >= 6
        t["answers_negative"] += negative
        t["answers_positive"] += positive and not negative
        t["experiences"] += positive or negative
    return {k: dict(v) for k, v in out.items()}


def nps(t: dict) -> float | None:
    n = t.get("nps_n", 0)
    return None if not n else 100.0 * (t.get("promoters", 0) - t.get("detractors", 0)) / n


async def read_topic(bootstrap: str, topic: str, count: int, timeout: float = 60,
                     keep: Callable[[Any], bool] = lambda message: True) -> list:
    """The first ``count`` messages of ``topic`` that ``keep`` accepts, read from the beginning."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    out: list = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(out) < count and asyncio.get_running_loop().time() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(m for m in msgs if keep(m))
    finally:
        await consumer.stop()
    return out

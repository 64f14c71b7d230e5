"""stream_processors.aggregators: the window state of one shard."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi.counts import KpiCounts, contribution
from schemas.records import EventType, effective_dims
from stream_processors.aggregators import NEVER, ShardState, is_touchpoint
from core.windows import DAY_MS, HOUR_MS, MINUTE_MS, WindowSize, closed_before, window_start

TP = EventType.touchpoint.value
SR = EventType.survey_response.value
INV = EventType.survey_invitation.value
T0 = 1_762_041_600_000  # 2025-11-02T00:00:00Z, a day boundary
SIZES = [WindowSize.minute, WindowSize.hour, WindowSize.day]
VIEWS = [(), ("channel",), ("channel", "team")]


def state(grace_ms: int = 10 * MINUTE_MS, views=VIEWS, sizes=SIZES, cache: int = 1000) -> ShardState:
    # No closed cells kept: these tests are about windows closing and being reloaded
    # (keeping them is tests/unit/test_closed_windows.py's subject).
    return ShardState(shard=0, views=list(views), sizes=list(sizes), grace_ms=grace_ms,
                      interaction_cache_size=cache, closed_cells_kept=0)


def record(type_: str, t: int, i: int = 0, dims: dict | None = None, **fields) -> dict:
    base = {"tenant": "acme", "id": f"e{i}", "source": "test", "type": type_, "time_ms": t, "subject": None,
            "interaction_id": f"i{i}", "customer": "", "dims": dims or {}, "attributes": {}}
    if type_ == TP:
        base |= {"wait_s": None, "handle_s": None, "resolved": None, "first_contact": None,
                 "transferred": None, "abandoned": None, "converted": None}
    elif type_ == SR:
        base |= {"survey_id": "s", "nps": None, "csat": None, "ces": None, "fcr": None, "comment": None,
                 "weight": None}
    else:
        base |= {"survey_id": "s", "via": "email"}
    return base | fields


def all_cells(s: ShardState) -> dict:
    return {(wk, ck): c for wk, cells in s.windows.items() for ck, c in cells.items()}


# -- strategies -----------------------------------------------------------------
dims_st = st.dictionaries(st.sampled_from(["channel", "team", "queue"]), st.sampled_from(["a", "b", ""]),
                          max_size=3)
time_st = st.integers(min_value=T0, max_value=T0 + 3 * DAY_MS)


@st.composite
def records_st(draw) -> dict:
    typ = draw(st.sampled_from([TP, SR, INV]))
    extra: dict = {}
    if typ == TP:
        extra = {"first_contact": draw(st.sampled_from([None, True, False])),
                 "resolved": draw(st.sampled_from([None, True, False]))}
    elif typ == SR:
        extra = {"nps": draw(st.none() | st.integers(0, 10)), "csat": draw(st.none() | st.integers(1, 5)),
                 "ces": draw(st.none() | st.integers(1, 7)), "fcr": draw(st.sampled_from([None, True, False]))}
    return record(typ, draw(time_st), draw(st.integers(0, 50)), draw(dims_st), **extra)


# -- apply / retract -----------------------------------------------------------
@given(st.lists(records_st(), max_size=40), st.randoms())
def test_apply_then_retract_leaves_every_cell_zero(records: list[dict], rnd) -> None:
    s = state()
    for r in records:
        s.apply(r, r["dims"], 1)
    order = list(records)
    rnd.shuffle(order)  # retraction order does not matter
    for r in order:
        s.apply(r, r["dims"], -1)
    assert all(c.is_zero() for c in all_cells(s).values())
    # One cell per (size, view) per distinct window and dimension values; nothing else.
    expected = {((r["tenant"], size, window_start(r["time_ms"], size.ms)),
                 ("overall" if not v else "*".join(v), tuple(r["dims"].get(d, "") for d in v)))
                for r in records for size in SIZES for v in VIEWS}
    assert set(all_cells(s)) == expected


@given(st.lists(records_st(), max_size=40))
def test_overall_cells_equal_the_sum_of_contributions(records: list[dict]) -> None:
    s = state()
    for r in records:
        s.apply(r, r["dims"], 1)
    for size in SIZES:
        expected: dict[int, KpiCounts] = {}
        for r in records:
            expected.setdefault(window_start(r["time_ms"], size.ms), KpiCounts()).add(contribution(r))
        got = {wk[2]: cells[("overall", ())] for wk, cells in s.windows.items() if wk[1] is size}
        assert got == expected
        # Every view partitions the same records: its cells sum to the overall cell.
        for (tenant, sz, start), cells in s.windows.items():
            if sz is not size:
                continue
            for v in ("channel", "channel*team"):
                total = KpiCounts()
                for (name, _), c in cells.items():
                    if name == v:
                        total.add(c)
                assert total == cells[("overall", ())]


@given(st.lists(time_st, min_size=1, max_size=20))
def test_watermark_is_the_max_applied_time_and_retraction_does_not_move_it(times: list[int]) -> None:
    s = state()
    assert s.watermark_ms == NEVER
    for i, t in enumerate(times):
        s.apply(record(TP, t, i), {}, 1)
    assert s.watermark_ms == max(times)
    s.apply(record(TP, max(times) + HOUR_MS, 99), {}, -1)
    assert s.watermark_ms == max(times)


# -- cells and views ------------------------------------------------------------
def test_views_produce_the_right_cells() -> None:
    s = state()
    t = T0 + HOUR_MS + 5 * MINUTE_MS + 7
    s.apply(record(TP, t, 1, {"channel": "voice", "team": "t1", "queue": "q"}, first_contact=True,
                   resolved=True), {"channel": "voice", "team": "t1", "queue": "q"})
    s.apply(record(SR, t, 2, nps=10, csat=4), {"team": "t2"})  # dims passed, not the record's
    keys = {("acme", WindowSize.minute, T0 + HOUR_MS + 5 * MINUTE_MS), ("acme", WindowSize.hour, T0 + HOUR_MS),
            ("acme", WindowSize.day, T0)}
    assert set(s.windows) == keys
    for wk in keys:
        cells = s.windows[wk]
        assert set(cells) == {
            ("overall", ()), ("channel", ("voice",)), ("channel", ("",)),
            ("channel*team", ("voice", "t1")), ("channel*team", ("", "t2")),
        }
        assert cells[("overall", ())] == KpiCounts(touchpoints=1, tp_first_contact=1, tp_first_contact_resolved=1,
                                                   responses=1, nps_n=1, promoters=1, csat_n=1, csat_sum=4,
                                                   csat_top2=1, answers_positive=1)
        assert cells[("channel", ("voice",))] == KpiCounts(touchpoints=1, tp_first_contact=1,
                                                           tp_first_contact_resolved=1)
        assert cells[("channel*team", ("", "t2"))] == KpiCounts(responses=1, nps_n=1, promoters=1, csat_n=1,
                                                                 csat_sum=4, csat_top2=1, answers_positive=1)


def test_tenants_have_separate_windows() -> None:
    s = state(views=[()], sizes=[WindowSize.hour])
    s.apply(record(TP, T0, 1), {})
    s.apply(record(TP, T0, 2) | {"tenant": "other"}, {})
    assert s.windows == {("acme", WindowSize.hour, T0): {("overall", ()): KpiCounts(touchpoints=1)},
                         ("other", WindowSize.hour, T0): {("overall", ()): KpiCounts(touchpoints=1)}}


def test_take_dirty_returns_touched_cells_once() -> None:
    s = state(views=[(), ("channel",)], sizes=[WindowSize.hour])
    s.apply(record(TP, T0, 1, {"channel": "chat"}), {"channel": "chat"})
    s.apply(record(TP, T0 + 1, 2, {"channel": "chat"}), {"channel": "chat"})
    dirty = sorted(s.take_dirty(), key=repr)
    wk = ("acme", WindowSize.hour, T0)
    assert dirty == sorted([(wk, ("overall", ()), KpiCounts(touchpoints=2)),
                            (wk, ("channel", ("chat",)), KpiCounts(touchpoints=2))], key=repr)
    assert s.take_dirty() == []
    s.apply(record(TP, T0 + 2, 3, {"channel": "voice"}), {"channel": "voice"})
    assert {ck for _, ck, _ in s.take_dirty()} == {("overall", ()), ("channel", ("voice",))}


def test_window_keys() -> None:
    s = state()
    t = T0 + 2 * HOUR_MS + 3 * MINUTE_MS + 1
    assert s.window_keys(record(TP, t)) == [("acme", WindowSize.minute, T0 + 2 * HOUR_MS + 3 * MINUTE_MS),
                                            ("acme", WindowSize.hour, T0 + 2 * HOUR_MS),
                                            ("acme", WindowSize.day, T0)]


# -- closing, eviction and loading ------------------------------------------------
def test_evict_closed_and_needs_load() -> None:
    grace = 10 * MINUTE_MS
    s = state(grace_ms=grace)
    assert s.complete_from == {size: NEVER for size in SIZES}
    s.apply(record(TP, T0, 1), {})
    s.apply(record(TP, T0 + HOUR_MS + 5 * MINUTE_MS, 2), {})
    # Watermark 01:05, grace 10 min -> cutoff 00:55: minute windows before it close; the 00:00 hour stays.
    assert s.evict_closed() == 1
    assert s.complete_from[WindowSize.minute] == closed_before(s.watermark_ms, grace, MINUTE_MS)
    assert s.complete_from[WindowSize.minute] == T0 + 55 * MINUTE_MS
    assert s.complete_from[WindowSize.hour] == T0
    assert s.complete_from[WindowSize.day] == T0
    old_minute = ("acme", WindowSize.minute, T0)
    assert old_minute not in s.windows
    assert s.needs_load(old_minute)
    assert not s.needs_load(("acme", WindowSize.hour, T0))  # in memory
    assert not s.needs_load(("acme", WindowSize.minute, T0 + 56 * MINUTE_MS))  # open, never stored
    assert not s.needs_load(("acme", WindowSize.minute, T0 + 55 * MINUTE_MS))  # the cutoff window is open
    # Watermark 01:10 -> the 00:00 hour window closes too.
    s.apply(record(TP, T0 + HOUR_MS + 10 * MINUTE_MS, 3), {})
    assert s.evict_closed() == 1  # minute 01:05 stays (cutoff 01:00), the 00:00 hour goes
    assert s.complete_from[WindowSize.hour] == T0 + HOUR_MS
    assert set(s.windows) == {("acme", WindowSize.minute, T0 + HOUR_MS + 5 * MINUTE_MS),
                              ("acme", WindowSize.minute, T0 + HOUR_MS + 10 * MINUTE_MS),
                              ("acme", WindowSize.hour, T0 + HOUR_MS), ("acme", WindowSize.day, T0)}
    assert s.needs_load(("acme", WindowSize.hour, T0))
    assert s.evict_closed() == 0


def test_complete_from_never_moves_back() -> None:
    s = state()
    s.complete_from[WindowSize.hour] = T0 + 5 * HOUR_MS  # e.g. set by a restore
    s.apply(record(TP, T0 + 5 * HOUR_MS, 1), {})
    s.evict_closed()
    assert s.complete_from[WindowSize.hour] == T0 + 5 * HOUR_MS


def test_apply_into_a_closed_window_that_is_not_loaded_raises() -> None:
    s = state()
    s.apply(record(TP, T0, 1), {})
    s.apply(record(TP, T0 + DAY_MS + HOUR_MS, 2), {})
    s.evict_closed()
    before = {k: v.copy() for k, v in all_cells(s).items()}
    late = record(TP, T0 + 30 * MINUTE_MS, 3)
    with pytest.raises(RuntimeError, match="must be loaded"):
        s.apply(late, {})
    assert all_cells(s) == before  # nothing half-applied (smallest size is checked first)
    # Once loaded from its stored records, the late record corrects history.
    stored = [record(TP, T0, 1)]
    for key in s.window_keys(late):
        assert s.needs_load(key)
        s.load_window(key, [r for r in stored if key[2] <= r["time_ms"] < key[2] + key[1].ms])
        assert not s.needs_load(key)
    s.apply(late, {})
    assert s.windows[("acme", WindowSize.day, T0)][("overall", ())] == KpiCounts(touchpoints=2)
    assert s.windows[("acme", WindowSize.hour, T0)][("overall", ())] == KpiCounts(touchpoints=2)
    assert s.windows[("acme", WindowSize.minute, T0 + 30 * MINUTE_MS)][("overall", ())] == KpiCounts(touchpoints=1)
    # A retraction into a closed, unloaded window is refused just the same.
    s.evict_closed()
    with pytest.raises(RuntimeError):
        s.apply(late, {}, -1)


def test_load_window_counts_answers_under_their_effective_dims() -> None:
    s = state(views=[("channel",)], sizes=[WindowSize.hour])
    key = ("acme", WindowSize.hour, T0)
    tp = record(TP, T0, 1, {"channel": "voice"})
    attributed = record(SR, T0 + 1, 2, {}, nps=9) | {"_dims": {"channel": "voice"}, "_attributed": True}
    waiting = record(SR, T0 + 2, 3, {}, nps=0) | {"_dims": {}, "_attributed": False}
    s.load_window(key, [tp, attributed, waiting])
    assert s.windows[key] == {
        ("channel", ("voice",)): KpiCounts(touchpoints=1, responses=1, nps_n=1, promoters=1, answers_positive=1),
        ("channel", ("",)): KpiCounts(responses=1, nps_n=1, detractors=1, answers_negative=1),
    }
    assert {ck for _, ck, _ in s.take_dirty()} == set(s.windows[key])


# -- attribution helpers ---------------------------------------------------------
def test_interaction_cache_is_a_bounded_lru() -> None:
    s = state(cache=3)
    for i in range(3):
        s.remember_interaction("acme", f"i{i}", {"channel": str(i)})
    s.remember_interaction("acme", "i0", {"channel": "0b"})  # refresh i0: i1 is now the oldest
    s.remember_interaction("acme", "i3", {"channel": "3"})
    assert len(s.interactions) == 3
    assert s.interaction_dims("acme", "i1") is None
    assert s.interaction_dims("acme", "i0") == {"channel": "0b"}
    assert s.interaction_dims("acme", "i2") == {"channel": "2"}
    assert s.interaction_dims("acme", "i3") == {"channel": "3"}
    assert s.interaction_dims("other", "i3") is None  # keyed by tenant too
    assert list(s.interactions) == [("acme", "i2"), ("acme", "i0"), ("acme", "i3")]  # oldest first


def test_interaction_cache_shares_equal_dimension_sets() -> None:
    s = state(cache=10)
    given_dims = {"channel": "chat", "team": "t1"}
    s.remember_interaction("acme", "i1", given_dims)
    s.remember_interaction("acme", "i2", {"team": "t1", "channel": "chat"})
    s.remember_interaction("acme", "i3", {"channel": "voice", "team": "t1"})
    one, two, three = (s.interaction_dims("acme", i) for i in ("i1", "i2", "i3"))
    assert one == two == {"channel": "chat", "team": "t1"} and one is two
    assert three == {"channel": "voice", "team": "t1"} and three is not one
    given_dims["channel"] = "email"  # the record's own dict is not the cached one
    assert s.interaction_dims("acme", "i1") == {"channel": "chat", "team": "t1"}


@given(st.lists(st.integers(0, 20), max_size=200), st.integers(1, 10))
def test_interaction_cache_never_exceeds_its_size(ids: list[int], size: int) -> None:
    s = state(cache=size)
    for i in ids:
        s.remember_interaction("acme", str(i), {})
        assert len(s.interactions) <= size
    recent = list(dict.fromkeys(reversed(ids)))[:size]
    assert {k[1] for k in s.interactions} == {str(i) for i in recent}


def test_effective_dims() -> None:
    assert effective_dims({"dims": {"channel": "chat"}}) == {"channel": "chat"}
    assert effective_dims({"dims": {"channel": "chat"}, "_dims": {"team": "t"}}) == {"team": "t"}
    assert effective_dims({"dims": {"channel": "chat"}, "_dims": {}}) == {}  # attributed to nothing is kept
    assert effective_dims({"dims": None}) == {}
    assert effective_dims({}) == {}


def test_is_touchpoint() -> None:
    assert is_touchpoint(record(TP, T0))
    assert not is_touchpoint(record(SR, T0))
    assert not is_touchpoint(record(INV, T0))

"""kpi.stats: hand-computed examples, properties, scipy references, coverage simulation."""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as ss

from kpi import stats as ks

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)


def rel(a: float, b: float) -> float:
    return 0.0 if a == b else abs(a - b) / abs(b)


def test_package_does_not_import_scipy():
    import subprocess

    code = "import kpi, kpi.stats, kpi.measures, kpi.counts, sys; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------
# Quantiles and distribution functions against scipy
# ---------------------------------------------------------------------------
_PS = [1e-100, 1e-20, 1e-10, 1e-6, 1e-3, 0.01, 0.02425, 0.025, 0.05, 0.1, 0.25, 0.4, 0.4999999,
       0.5, 0.5000001, 0.6, 0.75, 0.9, 0.975, 0.99, 0.999999]
_DFS = [1, 1.5, 2, 2.5, 3, 4, 5, 7.3, 10, 29, 30, 99.5, 1000, 10**4, 10**5, 10**5 + 1, 10**6, 10**8, 10**12]


def test_critical_values():
    assert ks.z_critical(0.95) == pytest.approx(Z95, rel=1e-15)
    assert ks.t_critical(5, 0.95) == pytest.approx(2.5705818356363146, rel=1e-12)
    assert ks.t_critical(1, 0.95) == pytest.approx(12.706204736174698, rel=1e-12)
    with pytest.raises(ValueError):
        ks.z_critical(1.0)


@pytest.mark.parametrize("p", _PS + [1e-300, 1e-12, 0.02, 0.03, 0.97575])
def test_norm_ppf_matches_scipy(p):
    assert rel(ks.norm_ppf(p), ss.norm.ppf(p)) < 1e-14 or abs(ks.norm_ppf(p) - ss.norm.ppf(p)) < 1e-15


def test_norm_edges():
    assert ks.norm_ppf(0.0) == -math.inf and ks.norm_ppf(1.0) == math.inf
    with pytest.raises(ValueError):
        ks.norm_ppf(1.5)
    assert ks.norm_cdf(0.0) == 0.5 and ks.norm_sf(Z95) == pytest.approx(0.025, rel=1e-14)


def _agrees_with_scipy(p: float, df: float, ours: float, tol: float) -> bool:
    """Within tol of scipy's t.ppf, or (where scipy's ppf is the less accurate one, as
    near p = 0.5: t.ppf(0.4999999, 4) is off by 4e-4) at least as close by scipy's own t.cdf."""
    ref = ss.t.ppf(p, df)
    if abs(ours - ref) <= tol * abs(ref) + 1e-300:
        return True
    return abs(ss.t.cdf(ours, df) - p) <= abs(ss.t.cdf(ref, df) - p)


@pytest.mark.parametrize("df", _DFS)
def test_t_ppf_grid_matches_scipy(df):
    for p in _PS:
        ours = ks.t_ppf(p, df)
        assert _agrees_with_scipy(p, df, ours, 1e-9), (p, df, ours, ss.t.ppf(p, df))


def test_t_ppf_near_centre_and_closed_forms():
    # Near p = 0.5: t = (p - 0.5) / pdf(0); pdf(0) = 0.375 for df = 4, 1/pi for df = 1.
    p = 0.4999999
    assert ks.t_ppf(p, 4) == pytest.approx((p - 0.5) / 0.375, rel=1e-9)
    assert ks.t_ppf(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-14)
    # df = 2 closed form: t = (2p - 1) / sqrt(2 p (1 - p))
    for q in (0.001, 0.3, 0.8, 0.975):
        assert ks.t_ppf(q, 2) == pytest.approx((2 * q - 1) / math.sqrt(2 * q * (1 - q)), rel=1e-13)


@pytest.mark.parametrize("df", _DFS)
def test_t_cdf_sf_grid_match_scipy(df):
    for t in [-1e6, -100.0, -30.0, -8.0, -3.0, -1.96, -1.0, -0.1, -1e-5, 0.0, 1e-5, 0.3, 1.0, 2.0, 5.0, 40.0]:
        for ours, ref in [(ks.t_cdf(t, df), ss.t.cdf(t, df)), (ks.t_sf(t, df), ss.t.sf(t, df))]:
            if ref > 1e-290:
                assert rel(ours, ref) < 1e-9, (t, df, ours, ref)


@settings(max_examples=300, deadline=None)
@given(
    p=st.floats(1e-12, 1 - 1e-12),
    df=st.one_of(st.integers(1, 500), st.floats(1.0, 1e7)),
)
def test_t_ppf_random_matches_scipy(p, df):
    ours = ks.t_ppf(p, df)
    assert _agrees_with_scipy(p, df, ours, 1e-8), (p, df, ours, ss.t.ppf(p, df))  # brief asks 1e-6


@settings(max_examples=300, deadline=None)
@given(t=st.floats(-1e4, 1e4), df=st.one_of(st.integers(1, 500), st.floats(1.0, 1e7)))
def test_t_cdf_random_matches_scipy_and_inverts(t, df):
    # scipy's t.cdf(6.7e-9, 1) is exactly 0.5; Cauchy's closed form 0.5 + atan(t)/pi is not (2.1e-9 above).
    ref = ss.cauchy.cdf(t) if df == 1 else ss.t.cdf(t, df)
    if ref > 1e-290:
        assert rel(ks.t_cdf(t, df), ref) < 1e-9
    p = ks.t_cdf(t, df)
    if 1e-300 < p < 1 - 1e-9:
        assert ks.t_ppf(p, df) == pytest.approx(t, rel=1e-7, abs=1e-9)


def test_t_edges():
    assert ks.t_ppf(0.5, 3) == 0.0
    assert ks.t_ppf(0.0, 3) == -math.inf and ks.t_ppf(1.0, 3) == math.inf
    assert ks.t_cdf(math.inf, 3) == 1.0 and ks.t_cdf(-math.inf, 3) == 0.0
    # Cauchy closed form: P(T > t) = atan2(1, t) / pi
    assert ks.t_sf(1e300, 1) == pytest.approx(1 / (math.pi * 1e300), rel=1e-12)
    for bad in (0, -1, math.nan):
        with pytest.raises(ValueError):
            ks.t_cdf(1.0, bad)
    with pytest.raises(ValueError):
        ks.t_ppf(-0.1, 3)


# ---------------------------------------------------------------------------
# One-sample intervals: hand-computed examples
# ---------------------------------------------------------------------------
def test_nps_score_and_adjusted_wald_example():
    # 50 promoters, 30 passives, 20 detractors: NPS = 100 * (50 - 20) / 100 = 30.
    assert ks.nps_score(50, 30, 20) == 30.0
    # Adjusted: n' = 103, pP = 50.75/103, pD = 20.75/103.
    pp, pd = 50.75 / 103, 20.75 / 103
    centre = pp - pd  # 30/103 = 0.29126...
    var = pp + pd - centre**2  # 0.69417 - 0.08483 = 0.60934
    half = Z95 * math.sqrt(var / 103)  # 1.95996 * 0.076915 = 0.15075
    low, high = ks.nps_interval(50, 30, 20)
    assert low == pytest.approx(100 * (centre - half), rel=1e-12)
    assert high == pytest.approx(100 * (centre + half), rel=1e-12)
    assert (round(low, 2), round(high, 2)) == (14.05, 44.2)


def test_nps_interval_clamped():
    low, high = ks.nps_interval(40, 0, 0)
    # n' = 43, pP = 40.75/43, pD = 0.75/43: centre 0.9302, var 0.9651-0.8653=0.0998,
    # half = 1.96 * sqrt(0.0998/43) = 0.0944 -> high 102.5 clamped to 100.
    assert high == 100.0 and 80 < low < 90
    assert ks.nps_interval(0, 0, 40)[0] == -100.0


def test_nps_interval_may_exclude_raw_score_only_for_n_1_at_95():
    # The adjusted centre is (P - D)/(n + 3): shrunk towards 0. At 95 % the
    # raw score falls outside only for a single promoter or detractor.
    low, high = ks.nps_interval(1, 0, 0)
    # n'=4, pP=.4375, pD=.1875, centre .25, var .625-.0625=.5625, half 1.96*.375=.735
    assert high == pytest.approx(100 * (0.25 + Z95 * 0.375), rel=1e-12)
    assert low < high < 100.0 == ks.nps_score(1, 0, 0)
    assert ks.nps_interval(2, 0, 0)[1] == 100.0  # n = 2 already contains it


def test_wilson_example():
    # 8 of 10: p = .8, z^2 = 3.8415, denom = 1 + z^2/10 = 1.38415,
    # centre = (.8 + z^2/20) / denom = .99207/1.38415 = .71674,
    # half = z * sqrt(.8*.2/10 + z^2/400) / denom = 1.96 * .16001 / 1.38415 = .22658.
    z2 = Z95**2
    denom = 1 + z2 / 10
    centre = (0.8 + z2 / 20) / denom
    half = Z95 * math.sqrt(0.016 + z2 / 400) / denom
    low, high = ks.wilson_interval(8, 10)
    assert low == pytest.approx(centre - half, rel=1e-12)
    assert high == pytest.approx(centre + half, rel=1e-12)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)


def test_wilson_edges():
    assert ks.wilson_interval(0, 10)[0] == 0.0
    assert ks.wilson_interval(10, 10)[1] == 1.0
    # 0 of 10: upper = z^2/(n + z^2) = 3.8415/13.8415 = .27753
    assert ks.wilson_interval(0, 10)[1] == pytest.approx(Z95**2 / (10 + Z95**2), rel=1e-12)
    for args in [(1, 0), (11, 10), (-1, 10)]:
        with pytest.raises(ValueError):
            ks.wilson_interval(*args)


def test_mean_interval_example():
    # CES answers 2,3,3,4,5,7: n=6, sum=24, sumsq=4+9+9+16+25+49=112.
    # mean 4, s^2 = (112 - 24*4)/5 = 3.2, se = sqrt(3.2/6) = .73030,
    # t(5, .975) = 2.57058 -> half = 1.87730.
    assert ks.sample_variance(6, 24, 112) == 3.2
    low, high = ks.mean_interval(6, 24, 112)
    half = 2.5705818356363146 * math.sqrt(3.2 / 6)
    assert (low, high) == (pytest.approx(4 - half, rel=1e-12), pytest.approx(4 + half, rel=1e-12))
    ref = ss.t.interval(0.95, 5, loc=4, scale=math.sqrt(3.2 / 6))
    assert (low, high) == (pytest.approx(ref[0], rel=1e-12), pytest.approx(ref[1], rel=1e-12))
    assert ks.mean_interval(3, 15, 75) == (5.0, 5.0)  # no spread
    with pytest.raises(ValueError):
        ks.mean_interval(1, 4, 16)


# ---------------------------------------------------------------------------
# Two-sample tests
# ---------------------------------------------------------------------------
def test_nps_diff_example():
    g1, g2 = (50, 30, 20), (30, 30, 40)
    r = ks.nps_diff_test(g1, g2)
    assert r.difference == 30.0 - (-10.0)
    # Adjusted: N1 = 30/103, v1 = (50.75+20.75)/103 - N1^2; N2 = (30.75-40.75)/103 = -10/103,
    # v2 = (30.75+40.75)/103 - N2^2; z = (N1 - N2)/sqrt(v1/103 + v2/103).
    n1, n2 = 30 / 103, -10 / 103
    v1 = 71.5 / 103 - n1**2
    v2 = 71.5 / 103 - n2**2
    se = math.sqrt(v1 / 103 + v2 / 103)
    assert r.statistic == pytest.approx((n1 - n2) / se, rel=1e-12)
    assert r.p_value == pytest.approx(2 * ss.norm.sf(abs(r.statistic)), rel=1e-12)
    assert r.ci_low == pytest.approx(100 * (n1 - n2 - Z95 * se), rel=1e-12)
    assert r.p_value < 0.001 and r.df is None
    same = ks.nps_diff_test(g1, g1)
    assert same.statistic == 0.0 and same.p_value == 1.0


def test_newcombe_hybrid_score_published_examples():
    # Newcombe (1998) Stat Med 17:873, Table II, method 10.
    for (x1, n1, x2, n2), (lo, hi) in [
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),  # by hand: .5714 - sqrt(.3702^2 + .3554^2)
    ]:
        r = ks.proportion_diff_test(x1, n1, x2, n2)
        assert (round(r.ci_low, 4), round(r.ci_high, 4)) == (lo, hi)
        assert r.difference == pytest.approx(x1 / n1 - x2 / n2)
    # pooled z for 56/70 vs 48/80: p = 104/150, se = sqrt(p(1-p)(1/70+1/80)) = .07543, z = .2/.07543
    r = ks.proportion_diff_test(56, 70, 48, 80)
    p = 104 / 150
    assert r.statistic == pytest.approx(0.2 / math.sqrt(p * (1 - p) * (1 / 70 + 1 / 80)), rel=1e-12)
    assert ks.proportion_diff_test(5, 5, 7, 7).p_value == 1.0


@pytest.mark.filterwarnings("ignore:Precision loss occurred")
@settings(max_examples=100, deadline=None)
@given(
    a=st.lists(st.integers(1, 7), min_size=2, max_size=60),
    b=st.lists(st.integers(1, 7), min_size=2, max_size=60),
)
def test_welch_matches_scipy(a, b):
    def summary(xs):
        return len(xs), sum(xs), sum(x * x for x in xs)

    r = ks.welch_t_test(summary(a), summary(b))
    if len(set(a)) == 1 and len(set(b)) == 1:
        assert r.p_value == (1.0 if a[0] == b[0] else 0.0)
        return
    ref = ss.ttest_ind(a, b, equal_var=False)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-9, abs=1e-12)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-15)
    assert r.df == pytest.approx(ref.df, rel=1e-9)
    ci = ref.confidence_interval(0.95)
    assert (r.ci_low, r.ci_high) == (pytest.approx(ci.low, rel=1e-8, abs=1e-12),
                                     pytest.approx(ci.high, rel=1e-8, abs=1e-12))


def test_welch_fractional_df_example():
    # a = [1,2,3,4] (n 4, sum 10, sumsq 30), b = [2,5,6,9,1] (n 5, sum 23, sumsq 147)
    r = ks.welch_t_test((4, 10, 30), (5, 23, 147))
    assert r.statistic == pytest.approx(-1.3343984081635014, rel=1e-12)
    assert r.df == pytest.approx(5.482695949256458, rel=1e-12)
    assert r.p_value == pytest.approx(0.23481278559757202, rel=1e-10)


def test_kish():
    assert ks.kish_effective_n([1.0] * 7) == 7.0
    assert ks.kish_effective_n([1, 2, 3]) == pytest.approx(36 / 14)  # (1+2+3)^2 / (1+4+9)
    assert ks.kish_effective_n([]) == 0.0
    assert ks.kish_effective_n_from_sums(6.0, 14.0) == pytest.approx(36 / 14)
    with pytest.raises(ValueError):
        ks.kish_effective_n([1, -1])


# ---------------------------------------------------------------------------
# Interval properties
# ---------------------------------------------------------------------------
_conf = st.sampled_from([0.8, 0.9, 0.95, 0.99])


@settings(max_examples=300, deadline=None)
@given(p=st.integers(0, 500), pa=st.integers(0, 500), d=st.integers(0, 500), conf=_conf)
def test_nps_interval_properties(p, pa, d, conf):
    n = p + pa + d
    low, high = ks.nps_interval(p, pa, d, conf)
    assert -100.0 <= low <= high <= 100.0
    if n:
        score = ks.nps_score(p, pa, d)
        assert -100.0 <= score <= 100.0
        if conf == 0.95 and n >= 2:
            assert low <= score <= high


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 10**6), frac=st.floats(0, 1), conf=st.floats(0.5, 0.999))
def test_wilson_properties(n, frac, conf):
    x = round(frac * n)
    low, high = ks.wilson_interval(x, n, conf)
    assert 0.0 <= low <= x / n <= high <= 1.0


@settings(max_examples=200, deadline=None)
@given(xs=st.lists(st.integers(1, 7), min_size=2, max_size=100), conf=_conf)
def test_mean_interval_contains_mean(xs, conf):
    low, high = ks.mean_interval(len(xs), sum(xs), sum(x * x for x in xs), conf)
    assert low <= sum(xs) / len(xs) <= high
    assert ks.sample_variance(len(xs), sum(xs), sum(x * x for x in xs)) == pytest.approx(
        float(np.var(xs, ddof=1)), abs=1e-12
    )


# ---------------------------------------------------------------------------
# Coverage simulation (seeded)
# ---------------------------------------------------------------------------
def test_interval_coverage_simulation():
    """Over random true parameters and sample sizes, 95 % intervals cover 93-97 % of the time."""
    rng = np.random.default_rng(20240517)
    trials = 4000
    ns = rng.integers(30, 400, size=trials)

    # NPS: random true (promoter, passive, detractor) shares.
    shares = rng.dirichlet([2.0, 2.0, 2.0], size=trials)
    hits = 0
    for n, pv in zip(ns, shares):
        p, pa, d = rng.multinomial(n, pv)
        low, high = ks.nps_interval(int(p), int(pa), int(d))
        hits += low <= 100 * (pv[0] - pv[2]) <= high
    nps_coverage = hits / trials

    # Wilson: random true proportions.
    props = rng.uniform(0.05, 0.95, size=trials)
    xs = rng.binomial(ns, props)
    hits = 0
    for x, n, pr in zip(xs, ns, props):
        low, high = ks.wilson_interval(int(x), int(n))
        hits += low <= pr <= high
    wilson_coverage = hits / trials

    assert 0.93 <= nps_coverage <= 0.97, nps_coverage
    assert 0.93 <= wilson_coverage <= 0.97, wilson_coverage

"""Gap detection: pure detectors (:mod:`gaps.detect`), target selection and the
read-and-evaluate step the API (and later the stream side) calls (:mod:`gaps.evaluate`)."""
from gaps.detect import (
    GAP_METRICS,
    BaselineGap,
    DataGap,
    DataStatus,
    Gap,
    GapKind,
    Reference,
    SegmentGap,
    TargetGap,
    Thresholds,
    Window,
    baseline_gap,
    data_gap,
    segment_gaps,
    target_gap,
)

__all__ = [
    "GAP_METRICS",
    "BaselineGap",
    "DataGap",
    "DataStatus",
    "Gap",
    "GapKind",
    "Reference",
    "SegmentGap",
    "TargetGap",
    "Thresholds",
    "Window",
    "baseline_gap",
    "data_gap",
    "segment_gaps",
    "target_gap",
]

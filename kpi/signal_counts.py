"""The counters of social and review signals (``cx.signal.v1``; issue 14), for :mod:`kpi.counts`.

``sig_n`` counts every signal (the volume), ``sig_reviews`` the reviews, ``sig_rating_sum`` /
``sig_rating_sumsq`` their ratings (1-5; the Student t interval of the mean rating), ``sig_polar_n`` the
signals that state an opinion (reviews and mentions), of which ``sig_negative`` are negative and
``sig_positive`` positive: a review by its rating and the ``review`` bounds, a mention by its
``sentiment`` label when it has one (``neutral`` is neither), else by its ``score`` (-1..1) and the
``mention_score`` bounds. ``sig_engagement`` counts likes, shares and comments (one signal each).
Signals join the positive:negative ratio through ``sig_positive`` / ``sig_negative`` (``kpi.measures``),
kept apart from ``answers_positive`` / ``answers_negative`` so the survey-only figures stay readable.

The bounds are installed with the answers' by ``kpi.counts.configure_experience``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SIGNAL_KINDS", "SIGNAL_SENTIMENTS", "add_signal", "set_bounds"]

#: ``cx.signal.v1`` kinds (``schemas.events.SignalKind`` values) and mention sentiment labels.
SIGNAL_KINDS: tuple[str, ...] = ("review", "mention", "like", "share", "comment")
SIGNAL_SENTIMENTS: tuple[str, ...] = ("positive", "neutral", "negative")
_ENGAGEMENT_KINDS = frozenset({"like", "share", "comment"})
_RATING_VALUES = frozenset(range(1, 6))

# Module globals so the hot path reads them without a lookup (set_bounds).
_REVIEW_NEGATIVE_MAX = _REVIEW_POSITIVE_MIN = _SCORE_NEGATIVE_MAX = _SCORE_POSITIVE_MIN = 0.0


def set_bounds(review: tuple[float, float], mention_score: tuple[float, float]) -> None:
    """(highest negative, lowest positive) of a review's rating and of a mention's score, inclusive."""
    global _REVIEW_NEGATIVE_MAX, _REVIEW_POSITIVE_MIN, _SCORE_NEGATIVE_MAX, _SCORE_POSITIVE_MIN
    (_REVIEW_NEGATIVE_MAX, _REVIEW_POSITIVE_MIN), (_SCORE_NEGATIVE_MAX, _SCORE_POSITIVE_MIN) = review, mention_score


def add_signal(target: Any, record: Mapping[str, Any], sign: int) -> None:
    """``kpi.counts.add_record`` for a signal: validates everything before touching ``target``."""
    kind = record.get("kind")
    rating = record.get("rating")
    sentiment = record.get("sentiment")
    score = record.get("score")
    if kind not in SIGNAL_KINDS:
        raise ValueError(f"signal kind {kind!r} is not one of {SIGNAL_KINDS}")
    if kind == "review" and (rating not in _RATING_VALUES or isinstance(rating, bool)):
        raise ValueError(f"review rating {rating!r} is outside 1..5")
    if sentiment is not None and sentiment not in SIGNAL_SENTIMENTS:
        raise ValueError(f"mention sentiment {sentiment!r} is not one of {SIGNAL_SENTIMENTS}")
    if score is not None and not -1.0 <= score <= 1.0:
        raise ValueError(f"mention score {score!r} is outside -1..1")
    target.sig_n += sign
    if kind == "review":
        target.sig_reviews += sign
        target.sig_rating_sum += sign * rating
        target.sig_rating_sumsq += sign * rating * rating
        target.sig_polar_n += sign
        if rating <= _REVIEW_NEGATIVE_MAX:
            target.sig_negative += sign
        elif rating >= _REVIEW_POSITIVE_MIN:
            target.sig_positive += sign
    elif kind == "mention":
        target.sig_polar_n += sign
        # The label when there is one, else the score (a mention carries one of them: schemas.events).
        if sentiment is not None:
            if sentiment == "negative":
                target.sig_negative += sign
            elif sentiment == "positive":
                target.sig_positive += sign
        elif score is not None:
            if score <= _SCORE_NEGATIVE_MAX:
                target.sig_negative += sign
            elif score >= _SCORE_POSITIVE_MIN:
                target.sig_positive += sign
    elif kind in _ENGAGEMENT_KINDS:
        target.sig_engagement += sign

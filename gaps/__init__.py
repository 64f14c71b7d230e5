"""Gap detection: pure detectors (:mod:`gaps.detect`), target selection and the
read-and-evaluate step the API (and later the stream side) calls (:mod:`gaps.evaluate`).

The package face re-exports the detectors' public names; :mod:`gaps.detect` declares them.
"""
from gaps.detect import *  # noqa: F403 - the face re-exports, gaps.detect.__all__ declares
from gaps.detect import __all__  # noqa: F401

"""Moved: VidLA's objective is train.families.vidla.objectives (``autocast`` is train.objectives'). This
module keeps the import path that scripts written before the move use."""

from train.families.vidla.objectives import VIDEO_TEXT, features, loss  # noqa: F401
from train.objectives import autocast  # noqa: F401

"""The photo viewer, opened from the grid: `ViewerDialog` (dialog.py) lays out the window, steps
through the results (sequence.py) and handles its keys; toolbar.py holds its tools. `PhotoCanvas`
(canvas.py) draws, zooms and pans the photo, `RegionCanvas` (region.py) adds the region box, whose
arithmetic is in geometry.py; loader.py decodes photos off the GUI thread and reads the neighbours
ahead; info.py is the metadata panel.
"""

from app.ui.viewer.dialog import ViewerDialog
from app.ui.viewer.sequence import ResultSequence

__all__ = ["ResultSequence", "ViewerDialog"]

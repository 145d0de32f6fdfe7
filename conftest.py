"""Suite-wide: campaigns run in process unless a test asks for workers (``--workers N`` /
``workers=N``), so the suite does not start a dask cluster per command."""

import os

os.environ.setdefault("SYNEMU_WORKERS", "1")

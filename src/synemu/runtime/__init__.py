"""User runtime: the Tile API and its backends, datasets, on-chip training and reports."""

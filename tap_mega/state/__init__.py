"""State and bookmarks.

The state shapes a run accepts and whose account a bookmark is, the lookback
window, and the resume points a walk saves.
"""

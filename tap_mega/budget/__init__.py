"""MEGA's request budget: pacing on RateLimit-* headers, and the ETA that knows it."""

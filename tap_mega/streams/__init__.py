"""The leads stream and its walk through MEGA's cursor pages."""

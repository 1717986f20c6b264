"""HTTP and MEGA's answers: the base stream, pages, error envelopes, network failures."""

"""Lab 12 — past one machine: the prediction service on Ray Serve."""

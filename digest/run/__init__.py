"""Running: the pipeline, the other actions under the lock, the daemon."""

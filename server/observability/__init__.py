"""What the service is doing, for operators: Prometheus metrics, and beside them the logs."""

"""Operations: health checks, Prometheus metrics, structured logs and broker
inspection. Observers only: nothing here writes domain rows."""

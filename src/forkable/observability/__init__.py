"""Operations: metrics, logs, error reporting, alerting."""

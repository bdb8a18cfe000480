"""Operations: metrics, health, logging."""

"""Operations tools: the dead-letter redrive and the monthly cost model."""

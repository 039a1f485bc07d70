"""Learning: gold features, MLlib models, evaluation, MLflow tracking, scoring."""

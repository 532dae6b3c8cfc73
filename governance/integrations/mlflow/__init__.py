"""The MLflow bridge: governance in front of an MLflow model registry (docs/mlflow.md)."""

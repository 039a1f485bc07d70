"""Deployment: Databricks asset bundle validation without a workspace."""

"""Exploratory statistics and figures computed in Spark (only bins reach the driver)."""

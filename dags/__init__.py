"""Runnable recipes (Beam pipelines) and the Airflow DAG."""

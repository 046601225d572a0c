"""Evaluation: datasets, ranking scores, answer evaluators, the LangSmith runner, tuning and the report."""

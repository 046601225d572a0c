"""Evaluation datasets and (later) evaluators; see `evals/datasets/README.md`."""

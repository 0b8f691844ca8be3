"""Datasets: samples, readers, the native Parquet format and metrics."""

from ndtwin.data.sample import EVAL_TARGETS, FLOW_LABELS, LINK_LABELS, QUEUE_LABELS, Sample

__all__ = ["EVAL_TARGETS", "FLOW_LABELS", "LINK_LABELS", "QUEUE_LABELS", "Sample"]

"""Datasets: samples, readers, the native Parquet format and metrics."""

from ndtwin.data.datanet import ReadReport, is_datanet_tree, read_datanet
from ndtwin.data.load import dataset_kind, open_samples
from ndtwin.data.native import DatasetWriter, dataset_info, is_native_dataset, read_dataset, sample_ids, write_dataset
from ndtwin.data.sample import EVAL_TARGETS, FLOW_LABELS, LINK_LABELS, QUEUE_LABELS, Sample
from ndtwin.data.topology_io import DEFAULT_CAPACITY_BPS, TopologyWarning, read_topology, write_gml

__all__ = [
    "DEFAULT_CAPACITY_BPS",
    "DatasetWriter",
    "EVAL_TARGETS",
    "FLOW_LABELS",
    "LINK_LABELS",
    "QUEUE_LABELS",
    "ReadReport",
    "Sample",
    "TopologyWarning",
    "dataset_info",
    "dataset_kind",
    "is_datanet_tree",
    "is_native_dataset",
    "open_samples",
    "read_datanet",
    "read_dataset",
    "read_topology",
    "sample_ids",
    "write_dataset",
    "write_gml",
]

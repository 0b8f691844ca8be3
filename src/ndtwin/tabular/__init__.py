"""Tabular functional models: XGBoost and a small MLP over per-flow path features, usable as Twins."""

from ndtwin.tabular.features import FEATURES, TARGETS, flow_features, training_table
from ndtwin.tabular.models import TabularTwin, fit_tabular, is_tabular_dir

__all__ = ["FEATURES", "TARGETS", "TabularTwin", "fit_tabular", "flow_features", "is_tabular_dir", "training_table"]

"""Quality of experience per application: weighted profiles, the ITU-T G.107 E-model, the graph's application layer."""

from ndtwin.qoe.scores import PROFILES, mos, qoe_class

__all__ = ["PROFILES", "mos", "qoe_class"]

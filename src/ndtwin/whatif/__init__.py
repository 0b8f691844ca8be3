"""What-if analysis: perturb a scenario, predict before and after with intervals, and validate the twin's answers.

The package exports the perturbations (``ndtwin.whatif.perturb``); answers are in ``ndtwin.whatif.analysis``."""

from ndtwin.whatif.perturb import *  # noqa: F403
from ndtwin.whatif.perturb import __all__  # noqa: F401

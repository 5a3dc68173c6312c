"""research_sdk — the Python SDK of Assay (standard library only).

    from research_sdk import Experiment
    exp = Experiment(project="vision_transformer", name="vit_base_imagenet")  # ASSAY_API_URL / ASSAY_API_KEY
    exp.log_features({"model": {"architecture": "ViT-Base"}})
    exp.log_code_snapshot("git_diff")
    for step in range(1000):
        exp.log_metric("loss", loss, step=step)      # returns at once; sent in the background
    exp.flush_metrics()                              # waits until the server acknowledged
    exp.log_artifacts(path="./checkpoints", pattern="*.pt")
    exp.finish(status="complete")                    # also runs at exit ("failed" on an exception)

Unreachable or hung server → batches go to $ASSAY_SPOOL_DIR/python (default ~/.assay/spool/python)
and are replayed when it is back;
leftovers of crashed runs: `python -m research_sdk sync`.
"""
from ._errors import (APIError, AssayError, NotFoundError, NotSupportedError, ServerUnreachableError,
                      SpoolLockedError, TeamMismatchError)
from ._read import compare, compare_to_pandas, summary_to_pandas, timeseries_to_pandas, to_pandas
from ._version import __version__
from .experiment import Experiment
from .hypothesis import HypothesisEvaluator, evaluation_frame

__all__ = [
    "Experiment", "HypothesisEvaluator", "compare", "to_pandas", "timeseries_to_pandas",
    "summary_to_pandas", "compare_to_pandas", "evaluation_frame", "AssayError", "APIError", "NotFoundError",
    "NotSupportedError", "ServerUnreachableError", "SpoolLockedError", "TeamMismatchError", "__version__",
]

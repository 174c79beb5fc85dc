"""The report's sections, one module each, and :data:`SECTIONS`, their order."""

from __future__ import annotations

from detbench.report.sections.ap_definitions import section_ap_definitions
from detbench.report.sections.environment import section_environment
from detbench.report.sections.eval_parity import section_eval_parity
from detbench.report.sections.gpu import section_gpu
from detbench.report.sections.history import section_baseline, section_history
from detbench.report.sections.hog import section_hog
from detbench.report.sections.nms import section_nms
from detbench.report.sections.roi import section_roi
from detbench.report.sections.sliding import section_sliding
from detbench.report.sections.speed import section_speed
from detbench.report.sections.user_analysis import section_user_analysis
from detbench.report.sections.user_data import section_user_ap, section_user_pr
from detbench.report.sections.user_tide import section_user_tide

#: The built-in report's sections, in order: (key, function).
SECTIONS = [
    (fn.key, fn)
    for fn in (
        section_environment,
        section_speed,
        section_gpu,
        section_eval_parity,
        section_nms,
        section_ap_definitions,
        section_roi,
        section_sliding,
        section_hog,
    )
]

#: The report on the user's data (``--gt`` / ``--dt``), in order.
USER_SECTIONS = [
    (fn.key, fn)
    for fn in (section_environment, section_user_ap, section_user_pr, section_user_tide, section_user_analysis)
]

#: Added after the others when asked for: ``--baseline`` and the history folder.
BASELINE_SECTION = section_baseline
HISTORY_SECTION = section_history

__all__ = ["SECTIONS", "USER_SECTIONS", "BASELINE_SECTION", "HISTORY_SECTION"]

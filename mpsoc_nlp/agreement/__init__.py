"""Inter-coder agreement: coefficients, bootstrap intervals, NVivo character agreement, MPSOC views.

* :mod:`~mpsoc_nlp.agreement.statistics`: the coefficients on long-format ratings and
  :func:`agreement_table` (pure functions whose docstrings reproduce published examples);
* :mod:`~mpsoc_nlp.agreement.bootstrap`: percentile intervals that resample whole documents;
* :mod:`~mpsoc_nlp.agreement.characters`: character-level agreement as NVivo computes it;
* :mod:`~mpsoc_nlp.agreement.views`: the MPSOC views (per code, type, valence, whole sets);
* :mod:`~mpsoc_nlp.agreement.report`: ``mpsoc agreement``, from files to an :class:`AgreementReport`.

Every public name of these modules can be imported from ``mpsoc_nlp.agreement``.
"""

from __future__ import annotations

from .bootstrap import BootstrapInterval, bootstrap_ci, f1_interval
from .characters import character_agreement, character_kappa
from .report import AgreementReport, agreement_report
from .statistics import (
    STATISTICS,
    AgreementTable,
    UndefinedStatisticWarning,
    agreement_table,
    brennan_prediger,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    krippendorff_alpha_masi,
    masi_distance,
    percent_agreement,
    ratings_from_wide,
    scotts_pi,
    weighted_cohen_kappa,
)
from .views import BINARY_STATISTICS, SET_STATISTICS, code_agreement, segment_agreement, variable_members, views_records

__all__ = [
    "BINARY_STATISTICS",
    "SET_STATISTICS",
    "STATISTICS",
    "AgreementReport",
    "AgreementTable",
    "BootstrapInterval",
    "UndefinedStatisticWarning",
    "agreement_report",
    "agreement_table",
    "bootstrap_ci",
    "brennan_prediger",
    "character_agreement",
    "character_kappa",
    "code_agreement",
    "cohen_kappa",
    "f1_interval",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha",
    "krippendorff_alpha_masi",
    "masi_distance",
    "percent_agreement",
    "ratings_from_wide",
    "scotts_pi",
    "segment_agreement",
    "variable_members",
    "views_records",
    "weighted_cohen_kappa",
]

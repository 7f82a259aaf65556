"""What each rate means, in one place: its name, what counts above and below the line, in
Chinese and English. The figures (stats.py) and the README's section say the same."""

from __future__ import annotations

from dataclasses import dataclass

Words = dict[str, str]  # {"zh": ..., "en": ...}


@dataclass(frozen=True)
class Rate:
    code: str
    label: Words
    definition: Words
    numerator_means: Words
    denominator_means: Words


RATES: tuple[Rate, ...] = (
    Rate("closure_rate",
         {"zh": "办结率", "en": "Closure rate"},
         {"zh": "统计期内受理的信访件中，截至统计时点已办结的比例。办结以审核通过（办结）为准；"
                "办结后被重新打开或因回访不满意退回复核的，在重新办结前不计入。",
          "en": "Of the cases received in the period, the share closed as of the moment the "
                "figures are for. A case counts as closed from its approval; one reopened or "
                "sent back by a dissatisfied revisit does not count until approved again."},
         {"zh": "截至统计时点处于办结状态的件数", "en": "Cases closed as of that moment"},
         {"zh": "统计期内受理的件数（受理时间不晚于统计时点）",
          "en": "Cases received in the period (by that moment)"}),
    Rate("on_time_rate",
         {"zh": "及时率", "en": "On-time rate"},
         {"zh": "已办结且有办理期限的信访件中，在办结时所适用的期限之前办结的比例。期限取办结当时"
                "案件的期限（含延期、重新打开后的新期限），记在办结事件上。",
          "en": "Of the closed cases that had a deadline, the share closed before the "
                "deadline they had when closed (extensions and a reopen's new deadline "
                "included), as recorded on the approval event."},
         {"zh": "在期限前办结的件数", "en": "Closed cases approved before their deadline"},
         {"zh": "截至统计时点已办结、且办结时有期限的件数",
          "en": "Cases closed as of that moment that had a deadline when closed"}),
    Rate("revisit_rate",
         {"zh": "回访率", "en": "Revisit rate"},
         {"zh": "已办结的信访件中，截至统计时点至少有一次回访联系到人的比例。联系不上（已说明原因）"
                "的回访不算已回访，它们留在分母里。",
          "en": "Of the closed cases, the share with at least one revisit that reached "
                "someone by that moment. A revisit that reached nobody (its reason recorded) "
                "does not count as revisited; the case stays in the denominator."},
         {"zh": "已办结且有联系到人的回访的件数",
          "en": "Closed cases with a revisit that reached someone"},
         {"zh": "截至统计时点已办结的件数", "en": "Cases closed as of that moment"}),
    Rate("satisfaction_rate",
         {"zh": "满意度", "en": "Satisfaction rate"},
         {"zh": "统计期内受理的信访件中，有回访评价的件，以截至统计时点最近一次评价为准，"
                "满意与基本满意所占的比例。",
          "en": "Of the cases received in the period that have a revisit answer, the share "
                "whose latest answer by that moment is satisfied or basically satisfied."},
         {"zh": "最近一次评价为满意或基本满意的件数",
          "en": "Cases whose latest answer is satisfied or basically satisfied"},
         {"zh": "有回访评价的件数（每件取最近一次）",
          "en": "Cases with a revisit answer (the latest one each)"}),
    Rate("spot_check_dissatisfied_rate",
         {"zh": "抽查不满意率", "en": "Dissatisfied rate in spot checks"},
         {"zh": "统计期内受理、且被回访抽查（未作废的抽样）抽中的信访件中，有回访评价的件，"
                "以截至统计时点最近一次评价为准，不满意所占的比例。",
          "en": "Of the cases received in the period and drawn in a revisit spot check (a "
                "sample not voided) that have a revisit answer, the share whose latest "
                "answer by that moment is dissatisfied."},
         {"zh": "抽查件中最近一次评价为不满意的件数",
          "en": "Spot-checked cases whose latest answer is dissatisfied"},
         {"zh": "抽查件中有回访评价的件数", "en": "Spot-checked cases with a revisit answer"}),
)

RATE_CODES = tuple(r.code for r in RATES)

# Labels of the counts' groupings, for the answer's tables.
COUNT_LABELS: dict[str, Words] = {
    "by_category": {"zh": "按类别", "en": "By category"},
    "by_channel": {"zh": "按来源渠道", "en": "By channel"},
    "by_unit": {"zh": "按承办单位", "en": "By unit"},
    "by_period": {"zh": "按受理时间", "en": "By date received"},
}

BUCKETS = ("day", "week", "month")

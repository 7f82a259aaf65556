"""Controlled vocabularies. Adding a value is a code change here, not a migration."""

from __future__ import annotations

CHANNELS = (
    "hotline_12345",     # 12345 government hotline (12369 merged into it in 2024)
    "hotline_12369",     # 12369 environmental hotline (older cases)
    "phone",
    "letter",
    "visit",             # 来访
    "online",            # national complaint platform, message boards, WeChat
    "media_monitoring",  # 舆情监测
    "inspection_batch",  # 督察交办, central or provincial inspection batches
)

CATEGORIES = (
    "noise_social",        # bars, KTVs, square dancing: GB 22337
    "noise_commercial",    # shops' loudspeakers, equipment: GB 22337
    "noise_construction",  # GB 12523
    "noise_industrial",
    "noise_traffic",
    "cooking_fumes",       # GB 18483
    "odour",
    "dust",
    "water",
    "waste",
    "other",
)

# A deadline's colours, from least to most urgent: every rule goes through them in this
# order (skipping some is allowed), so a colour means the same on every board. The order is
# the national early-warning scale (蓝 < 黄 < 橙 < 红) below red, with green for "in time",
# as Qufu's four-colour ledger (绿蓝黄红) keeps it.
COLOUR_ORDER = ("green", "blue", "yellow", "red")

CASE_STATUSES = ("received", "dispatched", "in_progress", "submitted", "closed")
# The one definition of "open": every status but closed.
OPEN_STATUSES = CASE_STATUSES[:-1]

# Findings of a handled case: 属实 / 部分属实 / 不属实.
VERDICTS = ("true", "partly_true", "not_true")

VISIT_KINDS = ("site_check", "night_check", "monitoring", "coordination_meeting",
               "joint_enforcement", "recheck", "leader_visit")
# A look-back's re-check (回头看核查) is recorded through its task, never as a plain visit.
RECORDED_VISIT_KINDS = tuple(k for k in VISIT_KINDS if k != "recheck")
# A hard case's leader group calling on the complainant (带案下访, seed 000): recorded like
# any visit, by the group's members only (fieldwork.visits.require_may_record).
LEADER_VISIT = "leader_visit"

PARTNERS = ("police", "culture_market", "community", "property_manager",
            "street_office", "environment_bureau", "urban_management")

ZONE_CLASSES = ("0", "1", "2", "3", "4")

PERIODS = ("day", "night")

MEASUREMENT_KINDS = ("noise",)

MEASUREMENT_SOURCES = ("meter", "phone_estimate")

# Formats accepted as evidence, checked again by content on completion.
EVIDENCE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")

GEO_SOURCES = ("gps", "network", "manual_pin", "late_fix")

# Interview recordings of a revisit, checked again by content on completion (no codecs
# parameter: the container is what is verified).
AUDIO_TYPES = ("audio/mp4", "audio/webm", "audio/ogg", "audio/mpeg")

# Revisits (回访): how, whom, and what they said.
REVISIT_METHODS = ("phone", "door", "questionnaire", "online")
# How the complainant was told the result (答复/反馈).
FEEDBACK_METHODS = ("phone", "sms", "letter", "in_person")
RESPONDENT_KINDS = ("complainant", "resident", "business")
# 满意 / 基本满意 / 不满意, best first.
SATISFACTION = ("satisfied", "basically_satisfied", "dissatisfied")
# What one call attempt came to; every outcome but "answered" is a failed attempt.
ATTEMPT_OUTCOMES = ("answered", "no_answer", "busy", "switched_off", "wrong_number",
                    "refused")
QUESTION_KINDS = ("single", "multi", "scale", "yesno", "text")
# What a sample may be stratified by (columns of a case).
SAMPLE_STRATA = ("unit", "channel")

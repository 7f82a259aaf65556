"""The standards readings are held against, for showing a limit before a reading is sent."""

from __future__ import annotations

from server.api.blueprint import Blueprint
from server.api.fieldwork.schemas import NoiseStandardsSchema
from server.api.security import load_user
from server.domain.fieldwork import standards

blp = Blueprint("standards", __name__, url_prefix="/api/standards",
                description="Measurement standards, kept as versioned data.")
blp.before_request(load_user)


@blp.route("/noise")
@blp.response(200, NoiseStandardsSchema)
def noise():  # type: ignore[no-untyped-def]
    """The noise standards data, the limit per case category and zone class, and the
    rules a reading is taken and judged by (with the vocabulary the app offers)."""
    data = standards.noise_standards()
    listed = []
    for std in data["standards"]:
        margin = standards.night_max_excess_dba(std["code"])
        listed.append({**std, **({"night_max_excess_dba": margin} if margin is not None
                                 else {})})
    return {"version": data["version"], "night": data["night"],
            "standards": listed, "overrides": data.get("overrides", []),
            "limits": standards.noise_limits_table(), "rules": standards.noise_rules()}

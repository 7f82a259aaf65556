"""The standards readings are held against, for showing a limit before a reading is sent."""

from __future__ import annotations

from server.api.blueprint import Blueprint
from server.api.schemas import NoiseStandardsSchema
from server.api.security import load_user
from server.domain import standards

blp = Blueprint("standards", __name__, url_prefix="/api/standards",
                description="Measurement standards, kept as versioned data.")
blp.before_request(load_user)


@blp.route("/noise")
@blp.response(200, NoiseStandardsSchema)
def noise():  # type: ignore[no-untyped-def]
    """The noise standards data, and the limit per case category and zone class."""
    data = standards.noise_standards()
    return {"version": data["version"], "night": data["night"],
            "standards": data["standards"], "overrides": data.get("overrides", []),
            "limits": standards.noise_limits_table()}

"""The rated-aspect catalog contract (responses of GET /v1/aspects)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AspectPublic(BaseModel):
    name: str = Field(description="The aspect's name, as answers carry it in `data.answers.aspects`")
    label: str = Field(description="Its display name (the name when none is configured)")
    min: int = Field(description="Lowest score of the scale")
    max: int = Field(description="Highest score of the scale")
    top2_min: int = Field(description="Lowest score counted in the top-2 box (`aspect_top2:<name>`)")
    metrics: list[str] = Field(description="The metrics it is: `aspect:<name>` (mean) and `aspect_top2:<name>` "
                               "(top-2-box %)")


class AspectList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "data": [{"name": "wait_time", "label": "Wait time", "min": 1, "max": 5, "top2_min": 4,
                  "metrics": ["aspect:wait_time", "aspect_top2:wait_time"]}],
        "count": 1,
    }]})

    data: list[AspectPublic] = Field(description="The configured aspects, by name")
    count: int

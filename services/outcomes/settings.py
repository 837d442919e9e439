"""Outcomes' own knobs (INSATS_OUTCOMES_*), beside the shared settings every service reads."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OutcomesSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INSATS_OUTCOMES_", extra="ignore", frozen=True)

    follow_up_check_seconds: float = Field(
        default=60.0, gt=0, description="How often due follow-ups are looked for."
    )
    follow_up_batch: int = Field(
        default=500, ge=1, description="Follow-ups announced per transaction."
    )
    erasure_mark_days: int | None = Field(
        default=None,
        ge=1,
        description="How long an erased participant is remembered, so that events about them "
        "still on outcomes' input topics never open a journey again: at least those topics' "
        "retention. Unset, for ever (topics kept whole for rebuilds).",
    )

    reissue_redirect_days: int = Field(
        default=31,
        ge=1,
        description="How long events under a participant id of an earlier version are still "
        "counted for the random id it was reissued as: at least the retention of outcomes' "
        "input topics (30 days). The old id is then forgotten.",
    )

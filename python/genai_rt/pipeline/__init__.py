"""The assistant pipeline: framing, grounding, controlled generation, validation gates,
retry/escalation and sign-off around the engine (see ``Pipeline``)."""

from genai_rt.pipeline.answer import Answer, PipelineRecord, Status
from genai_rt.pipeline.config import PipelineConfig, PipelineConfigError
from genai_rt.pipeline.pipeline import Pipeline
from genai_rt.pipeline.review_queue import ReviewQueue
from genai_rt.pipeline.taskspec import TaskSpec

__all__ = ["Answer", "Pipeline", "PipelineConfig", "PipelineConfigError", "PipelineRecord",
           "ReviewQueue", "Status", "TaskSpec"]

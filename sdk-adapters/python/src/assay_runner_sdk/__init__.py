"""assay-runner-sdk: agent runtimes under assay-runner (``run --mode sdk``).

- ``assay_runner_sdk.openai_agents``: ``assay_openai_agents()`` for openai-agents
- ``assay_runner_sdk.genai``: ``assay_genai()`` for google-genai

and here the low-level writer of ``assay.runner.sdk_event.v0`` records.
"""

from ._log import (
    SCHEMA,
    TOOL_CALL_ID_META_KEY,
    SdkLog,
    SdkLogError,
    call_id_or_none,
    installed_package,
    with_tool_call_id,
)

__version__ = "0.1.0"

__all__ = [
    "SCHEMA",
    "TOOL_CALL_ID_META_KEY",
    "SdkLog",
    "SdkLogError",
    "call_id_or_none",
    "installed_package",
    "with_tool_call_id",
    "__version__",
]

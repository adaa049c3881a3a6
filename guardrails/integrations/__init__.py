"""Integrations with other frameworks, each in its own module with its own extra.

``guardrails.integrations.langchain`` (extra ``[langchain]``): ``GuardedRunnable``
and ``GuardTransform``, usually built with ``Guard.as_runnable`` and
``Guard.as_transform``. Nothing here is imported by ``import guardrails``.
"""

__all__: list[str] = []

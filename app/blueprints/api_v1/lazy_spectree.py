"""A SpecTree whose models' JSON Schemas are built when the OpenAPI document is first asked
for (/api/v1/openapi.json, /docs/api), not when each view is decorated at import.

spectree's `validate` decorator turns every request and answer model into its JSON Schema as
it decorates the view, for the document alone: validation uses the pydantic models
themselves. That was ~40% of importing the app, paid by every process (web, rq worker,
stream, sandbox, CLI) whether or not it ever serves the document. Here the decorator records
the model and its schema name (what the view's metadata holds) and the schemas are built, in
the same order, just before spectree generates the document — which comes out the same.
"""

from typing import Any

from spectree import SpecTree


class LazySpecTree(SpecTree):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._pending_models: list[tuple[Any, str]] = []
        super().__init__(*args, **kwargs)

    def _add_model(self, model: Any, mode: Any = "validation") -> str:
        """The model's schema name now; its schema when the document is generated."""
        self._pending_models.append((model, mode))
        return self.naming_strategy(model)

    def build_pending_schemas(self) -> None:
        """Every recorded model's JSON Schema into `models`, in the order they were recorded."""
        while self._pending_models:
            model, mode = self._pending_models.pop(0)
            super()._add_model(model, mode)

    def _generate_spec(self) -> dict[str, Any]:
        self.build_pending_schemas()
        return super()._generate_spec()

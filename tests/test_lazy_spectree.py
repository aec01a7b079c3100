"""The API's SpecTree builds its models' JSON Schemas with the OpenAPI document, not when a
view is decorated (app/blueprints/api_v1/lazy_spectree.py), and the document is the same."""

from flask import Flask
from pydantic import BaseModel
from spectree import Response, SpecTree

from app.blueprints.api_v1 import spec
from app.blueprints.api_v1.lazy_spectree import LazySpecTree


class Query(BaseModel):
    limit: int = 10


class Item(BaseModel):
    id: int
    name: str


class Problem(BaseModel):
    message: str


def documented(spectree_class):
    """(models right after decorating, the document) of one view under `spectree_class`."""
    app = Flask(__name__)
    tree = spectree_class("flask", title="t", version="1", validation_error_model=Problem, annotations=False)

    @app.get("/items")
    @tree.validate(query=Query, resp=Response(HTTP_200=Item), tags=["items"])
    def items():
        return {"id": 1, "name": "x"}

    tree.register(app)
    before = dict(tree.models)
    with app.app_context():
        return before, tree.spec


def test_schemas_wait_for_the_document_which_comes_out_the_same():
    lazy_before, lazy_document = documented(LazySpecTree)
    eager_before, eager_document = documented(SpecTree)
    assert lazy_before == {} and eager_before  # nothing built at decoration, unlike spectree's
    assert lazy_document == eager_document
    assert any(name.startswith("Item") for name in lazy_document["components"]["schemas"])


def test_the_api_uses_it():
    assert isinstance(spec, LazySpecTree)

"""The /api blueprint: questions, citations, articles and health."""

from __future__ import annotations

from flask import Blueprint, jsonify

from qa.validate import check_question
from qa.web.helpers import json_body, service

blueprint = Blueprint("api", __name__, url_prefix="/api")


@blueprint.post("/ask")
def ask():
    question, top_k = check_question(json_body())
    return jsonify(service().ask(question, top_k))


@blueprint.get("/citations/<path:citation_id>")
def citation(citation_id: str):
    return jsonify(service().citation(citation_id))


@blueprint.get("/articles")
def articles():
    return jsonify({"articles": service().articles()})


@blueprint.get("/articles/<path:article_id>")
def article(article_id: str):
    return jsonify(service().article(article_id))


@blueprint.get("/health")
def health():
    return jsonify(service().health())

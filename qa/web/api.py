"""The /api blueprint: questions, citations, articles and health."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from qa.validate import check_question, parse_filters, parse_paging
from qa.web.helpers import json_body, service

blueprint = Blueprint("api", __name__, url_prefix="/api")


@blueprint.post("/ask")
def ask():
    question, top_k, filters, paging = check_question(json_body())
    return jsonify(service().ask(question, top_k, filters=filters, paging=paging, started=g.started))


@blueprint.get("/citations/<path:citation_id>")
def citation(citation_id: str):
    return jsonify(service().citation(citation_id))


@blueprint.get("/articles")
def articles():
    """One page (`limit`, `offset`) of the articles the other query parameters (the filters of /api/ask) pass."""
    params = {name: values[0] if len(values) == 1 else values for name, values in request.args.lists()}
    paging = parse_paging(params)  # a repeated parameter is a list: refused
    filters = parse_filters({k: v for k, v in params.items() if k not in ("limit", "offset")})
    return jsonify(service().articles(filters, paging))


@blueprint.get("/articles/<path:article_id>")
def article(article_id: str):
    return jsonify(service().article(article_id))


@blueprint.get("/health")
def health():
    return jsonify(service().health())

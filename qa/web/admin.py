"""The /api/admin blueprint: the archive's page files listed, added, replaced and removed while it serves.

Registered only when an admin key is set; the key check itself is the app's one before_request hook.
"""

from __future__ import annotations

from functools import partial

from flask import Blueprint, Flask, current_app, jsonify, request

from qa.config import Config
from qa.errors import UnsupportedMediaType
from qa.indexing.pages import check_name, check_size
from qa.service import QAService
from qa.storage.library import Library, summary
from qa.web.helpers import service

blueprint = Blueprint("admin", __name__, url_prefix="/api/admin")
PAGE_TYPES = frozenset({"text/plain", "application/octet-stream"})


def enable(app: Flask, config: Config, qa_service: QAService) -> None:
    """Mount the admin routes on an app: updates rebuild the index on disk and swap the service's."""
    build = partial(qa_service.backend.build, config, qa_service.encoder, qa_service.tokenizer, progress=False)
    app.extensions["qa.library"] = qa_service.backend.library(config, build, qa_service.swap)
    app.register_blueprint(blueprint)


def library() -> Library:
    return current_app.extensions["qa.library"]


@blueprint.get("/documents")
def documents():
    return jsonify({"documents": library().documents(service().index)})


@blueprint.put("/documents/<path:name>")
def put_document(name: str):
    """The body is the page file as it is (UTF-8 or GB18030); 201 when new, 200 when it replaced a page."""
    data = page_body(name)
    index, created = library().put({name: data})
    # Described from the bytes written, not the folder: another update may remove the page right after.
    return jsonify({"document": library().describe(index, name, data), "index": summary(index)}), 201 if created else 200


@blueprint.delete("/documents/<path:name>")
def delete_document(name: str):
    index = library().remove([name])
    return jsonify({"removed": name, "index": summary(index)})


def page_body(name: str) -> bytes:
    """The raw body, at most QA_MAX_PAGE_BYTES (checked before reading; chunked bodies are cut off there)."""
    check_name(name)
    if request.mimetype and request.mimetype not in PAGE_TYPES:
        raise UnsupportedMediaType("send the page file as the body, with Content-Type: text/plain")
    config = library().config
    if request.content_length is not None:
        check_size(name, request.content_length, config)
    request.max_content_length = config.max_page_bytes  # this route's limit, not the JSON routes' QA_MAX_BODY_BYTES
    return request.get_data(cache=False)

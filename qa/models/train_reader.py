"""`python -m qa train-reader`: the reader's upper layers fine-tuned on cached lower states, resumably."""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.models.reader import MAX_TOKENS, Encoded, batch_arrays, encode
from qa.models.reader_data import WINDOW_CHARS, Example, file_sha256, make_examples

log = logging.getLogger(__name__)
CHECKPOINT_EVERY = 100  # training steps between two checkpoints (about two minutes on 2 cores)


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the trained file: a checkpoint resumes only the recipe it was made with."""

    lower_layers: int = 2  # frozen: their states are computed once and cached
    upper_layers: int = 6  # trained copies of the base model's next layers (lower + upper <= 12)
    window_chars: tuple[int, int] = WINDOW_CHARS
    epochs: int = 2
    lr: float = 1e-4
    batch: int = 16
    seed: int = 0
    synthetic: int = 6000
    limit: int | None = None
    to_simplified: bool = False

    def command(self) -> str:
        """The command line that trains this recipe."""
        return (f"python -m qa train-reader --lower-layers {self.lower_layers} --upper-layers {self.upper_layers}"
                f" --window-chars {self.window_chars[0]} {self.window_chars[1]} --epochs {self.epochs} --lr {self.lr}"
                f" --batch {self.batch} --seed {self.seed} --synthetic {self.synthetic}"
                + (f" --limit {self.limit}" if self.limit else "") + (" --t2s" if self.to_simplified else ""))


@dataclass
class Prepared:
    """Encoded examples with their cached lower-layer states and span targets (token indexes; 0 = no answer)."""

    encoded: list[Encoded]
    states: list[np.ndarray]  # float16, (length, hidden)
    targets: list[tuple[int, int]]


def prepare(examples: list[Example], tokenizer, lower, batch: int = 32, progress: bool = True) -> Prepared:
    import torch
    from tqdm import tqdm

    encoded, targets = [], []
    for ex in examples:
        e = encode(tokenizer, ex.question, ex.window, MAX_TOKENS)
        target = (0, 0)
        if ex.answer:
            s, t = e.token_of(ex.answer[0]), e.token_of(ex.answer[1] - 1)
            if s is None or t is None:
                continue  # the answer was cut off by the token limit
            target = (s, t)
        encoded.append(e)
        targets.append(target)
    states: list[np.ndarray] = [None] * len(encoded)  # type: ignore[list-item]
    # Longest first: each batch fits in memory the earlier, longer ones freed (shortest first, glibc kept growing
    # its heap: 21 GB for 25k examples).
    order = np.argsort([-len(e.ids) for e in encoded], kind="stable")
    with torch.inference_mode(), tqdm(total=len(encoded), desc="lower layers", disable=not progress) as bar:
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            arrays = batch_arrays([encoded[i] for i in rows])
            h = lower(torch.from_numpy(arrays["input_ids"]), torch.from_numpy(arrays["attention_mask"]))
            for k, i in enumerate(rows):
                states[i] = h[k, : len(encoded[i].ids)].to(torch.float16).numpy()
            bar.update(len(rows))
    return Prepared(encoded, states, targets)


def train(prepared: Prepared, upper, epochs: int, lr: float, batch: int, seed: int, log_every: int = 20,
          checkpoint: Path | None = None, recipe: dict | None = None, on_epoch=None) -> list[float]:
    """Trains `upper` in place; the mean loss of every `log_every` steps. With `checkpoint`, the state is saved
    there every CHECKPOINT_EVERY steps and a run of the same `recipe` resumes from it; `on_epoch(epoch, upper)`
    is called after each epoch."""
    import torch

    torch.manual_seed(seed)
    head = [p for n, p in upper.named_parameters() if not n.startswith("layer.")]
    body = [p for n, p in upper.named_parameters() if n.startswith("layer.")]
    optimiser = torch.optim.AdamW([{"params": body, "lr": lr}, {"params": head, "lr": lr * 5}], weight_decay=0.01)
    n = len(prepared.encoded)
    per_epoch = (n + batch - 1) // batch
    steps = epochs * per_epoch
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    identity = {"recipe": recipe or {}, "examples": n, "steps": steps}
    losses, done = _resume(checkpoint, identity, upper, optimiser, schedule)
    upper.train()
    window, started, step = [], time.perf_counter(), 0
    for epoch in range(epochs):
        for rows in _batches(prepared, batch, random.Random(f"{seed}/{epoch}")):
            step += 1
            if step <= done:
                continue
            h, mask, marks, allowed, starts, ends = _tensors(prepared, rows)
            start_logits, end_logits = upper(h, mask, marks)
            start_logits = start_logits.masked_fill(~allowed, -1e4)
            end_logits = end_logits.masked_fill(~allowed, -1e4)
            loss = (torch.nn.functional.cross_entropy(start_logits, starts)
                    + torch.nn.functional.cross_entropy(end_logits, ends)) / 2
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(upper.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            window.append(loss.item())
            if len(window) == log_every or step == steps:
                losses.append(sum(window) / len(window))
                window = []
                log.info("epoch %d step %d/%d loss %.3f %.2f s/step", epoch + 1, step, steps, losses[-1],
                         (time.perf_counter() - started) / (step - done))
            if checkpoint and (step % CHECKPOINT_EVERY == 0 or step == steps):
                _checkpoint(checkpoint, identity, step, losses, upper, optimiser, schedule)
        if on_epoch and step > done:
            upper.eval()
            on_epoch(epoch + 1, upper)
            upper.train()
    upper.eval()
    return losses


def _checkpoint(path: Path, identity: dict, step: int, losses: list[float], upper, optimiser, schedule) -> None:
    """The training state after `step` steps, written atomically (torch's format: tensors and plain values)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"identity": json.dumps(identity, sort_keys=True), "step": step, "losses": losses,
                "upper": upper.state_dict(), "optimiser": optimiser.state_dict(), "schedule": schedule.state_dict()},
               tmp)
    tmp.replace(path)


def _resume(path: Path | None, identity: dict, upper, optimiser, schedule) -> tuple[list[float], int]:
    """The losses so far and the steps done, from a checkpoint of the same recipe (else a fresh start)."""
    import torch

    if not path or not path.exists():
        return [], 0
    state = torch.load(path, weights_only=True)
    if state["identity"] != json.dumps(identity, sort_keys=True):
        log.warning("the checkpoint %s is of another recipe or data: starting afresh", path)
        return [], 0
    upper.load_state_dict(state["upper"])
    optimiser.load_state_dict(state["optimiser"])
    schedule.load_state_dict(state["schedule"])
    log.info("resuming from %s after step %d", path, state["step"])
    return list(state["losses"]), int(state["step"])


def _batches(prepared: Prepared, batch: int, rng: random.Random):
    """Batches of similar lengths (little padding), in random order."""
    order = list(range(len(prepared.encoded)))
    rng.shuffle(order)
    pool = batch * 50
    batches = []
    for start in range(0, len(order), pool):
        part = sorted(order[start : start + pool], key=lambda i: len(prepared.encoded[i].ids))
        batches += [part[k : k + batch] for k in range(0, len(part), batch)]
    rng.shuffle(batches)
    return batches


def _tensors(prepared: Prepared, rows: list[int]):
    import torch

    encoded = [prepared.encoded[i] for i in rows]
    arrays = batch_arrays(encoded)
    length = arrays["input_ids"].shape[1]
    h = np.zeros((len(rows), length, prepared.states[rows[0]].shape[1]), dtype=np.float32)
    allowed = np.zeros((len(rows), length), dtype=bool)
    for k, (i, e) in enumerate(zip(rows, encoded)):
        h[k, : len(e.ids)] = prepared.states[i]
        allowed[k, 0] = True
        allowed[k, e.first : len(e.ids) - 1] = True
    starts = torch.tensor([prepared.targets[i][0] for i in rows])
    ends = torch.tensor([prepared.targets[i][1] for i in rows])
    return (torch.from_numpy(h), torch.from_numpy(arrays["attention_mask"]), torch.from_numpy(arrays["marks"]),
            torch.from_numpy(allowed), starts, ends)


def save(upper, path: Path, card: dict) -> None:
    """The trained parameters as float16 safetensors, and the JSON card beside them (both written atomically)."""
    import torch
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.detach().to(torch.float16).contiguous() for k, v in upper.state_dict().items()}, str(tmp),
              metadata={"format": "1", "lower_layers": str(card["lower_layers"]), "upper_layers": str(card["upper_layers"])})
    tmp.replace(path)
    card = card | {"sha256": file_sha256(path)}
    card_tmp = path.with_suffix(".json.tmp")
    card_tmp.write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    card_tmp.replace(path.with_suffix(".json"))


def run(model_path: Path, bench: Path, out: Path, recipe: Recipe, checkpoints: Path | None = None,
        progress: bool = True) -> dict:
    """The whole training: examples, cached lower states, the upper layers trained, the file and its card.
    `checkpoints`: a folder for the resumable state and each epoch's parameters (epoch<N>.safetensors)."""
    import torch

    from qa.models.dense import fingerprint, text_tokenizer
    from qa.models.reader_net import base_lower, base_upper

    if recipe.lower_layers + recipe.upper_layers > 12:
        raise ValueError("e5-small has 12 layers: lower + upper layers must be at most 12")
    torch.manual_seed(recipe.seed)
    started = time.perf_counter()
    examples, data = make_examples(bench, recipe.limit, recipe.seed, recipe.synthetic, recipe.to_simplified,
                                   recipe.window_chars)
    tokenizer = text_tokenizer(model_path)
    prepared = prepare(examples, tokenizer, base_lower(model_path, recipe.lower_layers), progress=progress)
    cached = time.perf_counter() - started
    upper = base_upper(model_path, recipe.lower_layers, recipe.upper_layers)
    card = {
        "format": 1,
        "base_model": fingerprint(model_path),  # of this installation (it includes the conversion's time)
        "base_model_safetensors_sha256": file_sha256(model_path / "model.safetensors"),  # the same everywhere
        "lower_layers": recipe.lower_layers,
        "upper_layers": recipe.upper_layers,
        "max_tokens": MAX_TOKENS,
        "training_data": data,
        "held_back": "15 % of each set's documents (qa.models.reader_data.held_back): never trained on",
        "traditional_converted": recipe.to_simplified,
        "examples": len(prepared.encoded),
        "no_answer_examples": sum(t == (0, 0) for t in prepared.targets),
        "recipe": dataclasses.asdict(recipe),
        "command": recipe.command(),
    }

    def epoch_file(epoch: int, trained) -> None:
        if checkpoints:
            save(trained, checkpoints / f"epoch{epoch}.safetensors", card | {"epochs_trained": epoch})

    losses = train(prepared, upper, recipe.epochs, recipe.lr, recipe.batch, recipe.seed,
                   checkpoint=checkpoints / "checkpoint.pt" if checkpoints else None,
                   recipe=dataclasses.asdict(recipe), on_epoch=epoch_file)
    seconds = {"examples_and_lower_states": round(cached, 1), "total": round(time.perf_counter() - started, 1)}
    card |= {"seconds": seconds,
             "losses": [round(x, 4) for x in losses]}
    save(upper, out, card)
    return card

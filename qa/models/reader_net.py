"""The reader's network in torch (training and the one-time ONNX export only): e5-small's lower layers, copies of
the layers above them fine-tuned for spans, a question-word marker and a start/end head."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

# Written by hand rather than taken from transformers' BertModel: the reader stops after `lower + upper` of
# the 12 layers, feeds a marker embedding in between, and is trained on cached lower states; BertModel's
# layer call signature has changed between releases, while these 40 lines of post-LayerNorm BERT do not.
HIDDEN, HEADS, FFN, EPS = 384, 12, 1536, 1e-12
NULL = 0  # the no-answer option is the span (0, 0): the <s> token


class Layer(nn.Module):
    """One post-LayerNorm BERT layer, with Hugging Face's parameter names (weights load unchanged)."""

    def __init__(self):
        super().__init__()
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        self.attention.self.query, self.attention.self.key, self.attention.self.value = (
            nn.Linear(HIDDEN, HIDDEN) for _ in range(3))
        self.attention.output = nn.Module()
        self.attention.output.dense = nn.Linear(HIDDEN, HIDDEN)
        self.attention.output.LayerNorm = nn.LayerNorm(HIDDEN, eps=EPS)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(HIDDEN, FFN)
        self.output = nn.Module()
        self.output.dense = nn.Linear(FFN, HIDDEN)
        self.output.LayerNorm = nn.LayerNorm(HIDDEN, eps=EPS)

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        batch, length, _ = h.shape
        a = self.attention

        def heads(x):
            return x.view(batch, length, HEADS, HIDDEN // HEADS).transpose(1, 2)

        q, k, v = heads(a.self.query(h)), heads(a.self.key(h)), heads(a.self.value(h))
        scores = q @ k.transpose(-1, -2) / math.sqrt(HIDDEN // HEADS) + bias
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, length, HIDDEN)
        h = a.output.LayerNorm(h + a.output.dense(context))
        return self.output.LayerNorm(h + self.output.dense(nn.functional.gelu(self.intermediate.dense(h))))


class Embeddings(nn.Module):
    def __init__(self, vocab: int, positions: int = 512):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, HIDDEN)
        self.position_embeddings = nn.Embedding(positions, HIDDEN)
        self.token_type_embeddings = nn.Embedding(2, HIDDEN)
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=EPS)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = self.word_embeddings(ids) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


def attention_bias(mask: torch.Tensor) -> torch.Tensor:
    """(batch, 1, 1, length) additive mask: padding gets a large negative score."""
    return (1.0 - mask[:, None, None, :].to(torch.float32)) * -1e4


class Lower(nn.Module):
    """The frozen part: embeddings and the first `layers` layers of the base model."""

    def __init__(self, vocab: int, layers: int):
        super().__init__()
        self.embeddings = Embeddings(vocab)
        self.layer = nn.ModuleList(Layer() for _ in range(layers))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h, bias = self.embeddings(ids), attention_bias(mask)
        for layer in self.layer:
            h = layer(h, bias)
        return h


class Upper(nn.Module):
    """The trained part: the marker of passage tokens that occur in the question, the upper layers, the head."""

    def __init__(self, layers: int):
        super().__init__()
        self.marker = nn.Embedding(2, HIDDEN)
        nn.init.zeros_(self.marker.weight)
        self.layer = nn.ModuleList(Layer() for _ in range(layers))
        self.span = nn.Linear(HIDDEN, 2)

    def forward(self, h: torch.Tensor, mask: torch.Tensor, marks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, bias = h + self.marker(marks), attention_bias(mask)
        for layer in self.layer:
            h = layer(h, bias)
        start, end = self.span(h).unbind(-1)
        return start, end


class Reader(nn.Module):
    """ids, mask, marks -> start and end logits per token (the ONNX graph served by qa.models.reader)."""

    def __init__(self, lower: Lower, upper: Upper):
        super().__init__()
        self.lower, self.upper = lower, upper

    def forward(self, input_ids, attention_mask, marks):
        return self.upper(self.lower(input_ids, attention_mask), attention_mask, marks)


def base_lower(model_path: Path, layers: int) -> Lower:
    """The frozen part, loaded from the sentence-transformers folder of the base model."""
    weights = load_file(str(Path(model_path) / "model.safetensors"))
    lower = Lower(weights["embeddings.word_embeddings.weight"].shape[0], layers)
    state = {name: weights[name] for name in lower.state_dict() if name.startswith("embeddings.")}
    state |= {f"layer.{i}.{rest}": weights[f"encoder.layer.{i}.{rest}"] for i in range(layers)
              for rest in (n.split(".", 2)[2] for n in lower.state_dict() if n.startswith("layer.0."))}
    lower.load_state_dict(state)
    return lower.eval().requires_grad_(False)


def base_upper(model_path: Path, lower_layers: int, layers: int) -> Upper:
    """The trainable part before training: copies of the base model's layers above the frozen ones."""
    weights = load_file(str(Path(model_path) / "model.safetensors"))
    upper = Upper(layers)
    state = dict(upper.state_dict())
    for name in state:
        if name.startswith("layer."):
            _, i, rest = name.split(".", 2)
            state[name] = weights[f"encoder.layer.{lower_layers + int(i)}.{rest}"]
    upper.load_state_dict(state)
    return upper


def load_upper(path: Path) -> tuple[Upper, int]:
    """The trained upper part, in float32, from a file `save` wrote."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        state = {k: f.get_tensor(k).float() for k in f.keys()}
    upper = Upper(int(meta["upper_layers"]))
    upper.load_state_dict(state)
    return upper.eval(), int(meta["lower_layers"])

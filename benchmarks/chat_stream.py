"""A streamed chat as a client receives it: each event with its time since the request, then the same
follow-up through the official `openai` package, streamed and not.

Usage: python benchmarks/chat_stream.py URL      (a running server, e.g. http://127.0.0.1:8000)
"""

from __future__ import annotations

import argparse
import json
import time

import requests
from openai import OpenAI

TURNS = ["莲湖街道拆除了多少平方米的棚亭杂屋？", "那“牛皮癣”清除了多少？"]


def stream_chat(url: str, messages: list[dict]) -> str:
    """Prints every event as received (ms since the request, name, a short view of the data); the reply."""
    started = time.perf_counter()
    reply, name = "", None
    with requests.post(url + "/api/chat", json={"messages": messages, "stream": True}, stream=True, timeout=60) as r:
        print(f"{(time.perf_counter() - started) * 1000:7.1f} ms  HTTP {r.status_code} {r.headers['Content-Type']}")
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                shown = {"passages": lambda d: f"standalone_question={d['standalone_question']} "
                                               f"citations={[p['citation'] for p in d['passages']]}",
                         "answer": lambda d: repr(d["delta"]),
                         "done": lambda d: f"answer={d['answer'] and d['answer']['text']} timings_ms={d['timings_ms']}",
                         "error": lambda d: d}[name](data)
                print(f"{(time.perf_counter() - started) * 1000:7.1f} ms  {name}: {shown}")
                reply = data.get("reply", reply)
    return reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    args = parser.parse_args()
    first = requests.post(args.url + "/api/chat", json={"messages": [{"role": "user", "content": TURNS[0]}]},
                          timeout=60).json()
    messages = [{"role": "user", "content": TURNS[0]}, {"role": "assistant", "content": first["reply"]},
                {"role": "user", "content": TURNS[1]}]
    print("# POST /api/chat, stream: true")
    stream_chat(args.url, messages)
    client = OpenAI(base_url=args.url + "/v1", api_key="unused", max_retries=0)
    model = client.models.list().data[0].id
    print(f"\n# openai {__import__('openai').__version__}: client.models.list() -> {model!r}")
    completion = client.chat.completions.create(model=model, messages=messages)
    print("# client.chat.completions.create(...)")
    print("content:", completion.choices[0].message.content)
    print("citations[0]:", json.dumps(completion.model_extra["citations"][0], ensure_ascii=False))
    print("# client.chat.completions.create(..., stream=True)")
    started = time.perf_counter()
    for chunk in client.chat.completions.create(model=model, messages=messages, stream=True):
        choice = chunk.choices[0]
        extra = f" citations={len(chunk.model_extra['citations'])}" if choice.finish_reason else ""
        print(f"{(time.perf_counter() - started) * 1000:7.1f} ms  delta={choice.delta.content!r} "
              f"finish_reason={choice.finish_reason}{extra}")


if __name__ == "__main__":
    main()

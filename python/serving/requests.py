"""What each request asks: its prompt and how many tokens it wants back.

Lengths are given as an integer (fixed) or ``"A-B"`` (uniform integers from A to B), or taken
from a local dataset in the ShareGPT style (a JSON list of ``{"conversations": [{"from":
"human", "value": ...}, {"from": "gpt", "value": ...}]}``: the first human turn is the prompt,
the first reply's length in words the output length unless ``serve.output_len`` is given).
A made-up prompt of N tokens is N words of a small vocabulary separated by spaces: most
tokenizers make about one token of each; the server's own count (``usage.prompt_tokens``) is
what the run records.

A dataset's prompts are drawn at random with the seed (``serve.dataset_order random``), or
taken in the order ``vllm bench serve`` takes them for the same seed (``vllm``:
:func:`vllm_order`), so that a run of each sends the same prompts in the same order.

A dataset is read as :mod:`safeio` reads an input: anything but a regular file (a FIFO, a
device such as ``/dev/zero``, a directory) is refused before it is opened, and a file over
:data:`MAX_DATASET_BYTES` is refused unread.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass

import safeio

#: The largest dataset file read (ShareGPT's whole 'unfiltered' file is about 0.7 GB).
MAX_DATASET_BYTES = 1 << 30
#: The longest prompt or output asked for, in tokens (2**20: past any model's context window;
#: a made-up prompt of 10**10 words ended in a MemoryError traceback after 40 s).
MAX_LENGTH = 1 << 20
#: How a dataset's prompts are taken (``serve.dataset_order``): drawn at random with the
#: seed, or in ``vllm bench serve``'s order for the seed.
ORDERS = ("random", "vllm")
WORDS = ["the", "model", "token", "server", "request", "rate", "latency", "time", "first", "output", "batch", "queue", "stream", "answer", "question", "benchmark", "load", "goodput", "capacity", "seconds"]


@dataclass(frozen=True)
class Lengths:
    """A length: fixed (``low == high``) or uniform from ``low`` to ``high``."""

    low: int
    high: int

    @classmethod
    def parse(cls, text: str | int, name: str) -> Lengths:
        """``128`` or ``"64-256"``; a clear error naming the parameter otherwise."""
        raw = str(text).strip()
        low_text, dash, high_text = raw.partition("-")
        try:
            low = int(low_text)
            high = int(high_text) if dash else low
        except ValueError:
            raise ValueError(f"{name}: {text!r} is not a length (an integer such as 128, or "
                             "a range such as 64-256)") from None
        if low < 1 or high < low:
            raise ValueError(f"{name}: {text!r} must be at least 1, a range low-high with "
                             "low <= high")
        if high > MAX_LENGTH:
            raise ValueError(f"{name}: {text!r} is past the longest length, {MAX_LENGTH} "
                             "tokens; give a length of at most that")
        return cls(low, high)

    def draw(self, rng: random.Random) -> int:
        return self.low if self.low == self.high else rng.randint(self.low, self.high)


@dataclass(frozen=True)
class Request:
    """One request: its index, prompt text, words in it and the tokens asked for."""

    index: int
    prompt: str
    prompt_words: int
    max_tokens: int


def made_up_prompt(words: int, rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _read_dataset(path: str) -> object:
    """The parsed JSON of a dataset file, read as :mod:`safeio` reads an input."""
    try:
        return json.loads(safeio.read_text_capped(path, MAX_DATASET_BYTES))
    except safeio.UnsafeFileError as err:
        raise ValueError(f"serve.dataset: {err}") from None
    except (OSError, ValueError) as err:
        raise ValueError(f"serve.dataset: cannot read {path}: {err}") from None


def _pair(item: object) -> tuple[str, int] | None:
    """(prompt, reply words) of one ShareGPT entry, or None when it holds no conversation
    whose first turn is a person's text."""
    turns = item.get("conversations") if isinstance(item, dict) else None
    if not isinstance(turns, list) or len(turns) < 2:
        return None
    first, reply = turns[0], turns[1]
    if not all(isinstance(t, dict) and isinstance(t.get("value"), str) for t in (first, reply)):
        return None
    if first.get("from") not in ("human", "user") or not first["value"].strip():
        return None
    return first["value"], max(1, len(reply["value"].split()))


def _no_conversation(path: str) -> ValueError:
    return ValueError(f"serve.dataset: {path} holds no conversation (a JSON list of "
                      "{\"conversations\": [{\"from\": \"human\", \"value\": ...}, "
                      "{\"from\": \"gpt\", \"value\": ...}]})")


def load_dataset(path: str) -> list[tuple[str, int]]:
    """(prompt, reply words) pairs of a ShareGPT-style file, in file order."""
    data = _read_dataset(path)
    pairs = [p for p in map(_pair, data if isinstance(data, list) else []) if p is not None]
    if not pairs:
        raise _no_conversation(path)
    return pairs


def vllm_order(path: str, count: int, seed: int) -> list[tuple[str, int]]:
    """``count`` (prompt, reply words) pairs of a ShareGPT-style file in the order
    ``vllm bench serve --dataset-name sharegpt --seed seed --num-prompts count`` sends them
    (vLLM 0.32, ``ShareGPTDataset``; checked against it by tests/load/test_vllm_arrivals.py).

    vLLM keeps the entries with at least two conversation turns, shuffles them with Python's
    ``random`` seeded with the seed, and takes them in that order; when too few are left it
    seeds ``random`` again and adds choices among them. It also drops prompts under 4 or over
    1,024 tokens (and, without an output length, replies under 4 tokens) on its tokenizer,
    which this client does not load, and keeps entries whose first turn is not a person's,
    which this client skips: the two orders agree where every entry passes both (a file of
    prompts of 4 to 1,024 tokens, each a person's turn first)."""
    data = _read_dataset(path)
    kept = [item for item in (data if isinstance(data, list) else [])
            if isinstance(item, dict) and _turns(item.get("conversations")) >= 2]
    random.Random(seed).shuffle(kept)
    pairs: list[tuple[str, int]] = []
    for item in kept:
        if len(pairs) >= count:
            break
        pair = _pair(item)
        if pair is not None:
            pairs.append(pair)
    if not pairs:
        raise _no_conversation(path)
    again = random.Random(seed)
    return pairs + [again.choice(pairs) for _ in range(count - len(pairs))]


def _turns(turns: object) -> int:
    """How many turns vLLM counts in an entry's ``conversations`` (its ``len``)."""
    try:
        return len(turns)  # type: ignore[arg-type]
    except TypeError:
        return 0


def vllm_requests(count: int, warmup: int, output_len: str | int | None, dataset: str,
                  seed: int) -> list[Request]:
    """``warmup`` requests, then ``count`` in :func:`vllm_order`; the warm-ups repeat the
    run's first prompts, as ``vllm bench serve``'s ready check sends its first prompt."""
    pairs = vllm_order(dataset, count, seed)
    rng = random.Random(seed)
    out_lengths = Lengths.parse(output_len, "serve.output_len") if output_len else None
    chosen = [pairs[i % len(pairs)] for i in range(warmup)] + pairs
    return [Request(i, text, len(text.split()), out_lengths.draw(rng) if out_lengths else reply)
            for i, (text, reply) in enumerate(chosen)]


def check_lengths(prompt_len: str | int, output_len: str | int | None,
                  dataset: str = "") -> None:
    """Refuse the lengths :func:`make_requests` would refuse, without building anything
    (a schedule of 10**8 times was built before a missing output length was said)."""
    if output_len:
        Lengths.parse(output_len, "serve.output_len")
    if dataset:
        return
    Lengths.parse(prompt_len, "serve.prompt_len")
    if not output_len:
        raise ValueError("serve.output_len: needed without serve.dataset (an integer such as "
                         "128, or a range such as 64-256)")


def make_requests(count: int, prompt_len: str | int, output_len: str | int | None,
                  dataset: str = "", seed: int = 0) -> list[Request]:
    """``count`` requests, the same for the same seed (a dataset is sampled with it)."""
    rng = random.Random(seed)
    out_lengths = Lengths.parse(output_len, "serve.output_len") if output_len else None
    if dataset:
        pairs = load_dataset(dataset)
        chosen = [pairs[rng.randrange(len(pairs))] for _ in range(count)]
        return [Request(i, text, len(text.split()),
                        out_lengths.draw(rng) if out_lengths else reply)
                for i, (text, reply) in enumerate(chosen)]
    lengths = Lengths.parse(prompt_len, "serve.prompt_len")
    if out_lengths is None:
        raise ValueError("serve.output_len: needed without serve.dataset (an integer such as "
                         "128, or a range such as 64-256)")
    requests = []
    for index in range(count):
        words = lengths.draw(rng)
        requests.append(Request(index, made_up_prompt(words, rng), words,
                                out_lengths.draw(rng)))
    return requests

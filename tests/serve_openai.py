#!/usr/bin/env python3
"""`ilr serve` driven by the official `openai` Python client on loopback (run by `make test` when
build/openai-venv exists: bash tests/fixtures/openai_venv.sh makes it).

A tiny random Llama with the trained test tokenizer and a ChatML template is served (twice, as two agents);
the client lists the models, asks for chat and text completions (greedy output must equal `ilr generate`'s for
the same prompt), streams, asks for n > 1 with a seed, uses stop strings, gets the errors it should, and runs a
discussion model (idea3:tiny+twin), whose transcript it reads from the response's extra field.

usage: serve_openai.py ILR_BINARY
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

try:
    import openai
except ImportError:
    print("serve_openai: skipped: the openai package is missing (bash tests/fixtures/openai_venv.sh installs it)")
    sys.exit(0)

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("  ok:", what)


def main():
    ilr = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="ilr-serve-openai-")
    server = None
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    try:
        model = os.path.join(tmp, "m")
        subprocess.run([ilr, "init", "--arch", "llama", "--shape", "tiny", "-o", model, "--tokenizer",
                        "tests/data/tokenizer/trained/qwen2", "--vocab-size", "1024", "--seed", "7"],
                       check=True, capture_output=True, env=env)
        cfg_path = os.path.join(model, "tokenizer_config.json")
        cfg = json.load(open(cfg_path))
        cfg["chat_template"] = CHATML
        json.dump(cfg, open(cfg_path, "w"))
        port = free_port()
        server = subprocess.Popen([ilr, "serve", "--model", "tiny=" + model, "--model", "twin=" + model, "--port", str(port),
                                   "--slots", "4", "--context", "1024"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=60)
        print(f"serve_openai: openai {openai.__version__} against ilr serve on port {port}")

        check([m.id for m in client.models.list().data] == ["tiny", "twin"], "models.list() gives ['tiny', 'twin']")

        prompt = "The sum of 3 and 4 is"
        gen = subprocess.run([ilr, "generate", "--model", model, "--prompt", prompt, "--temperature", "0",
                              "--max-new-tokens", "16"], check=True, capture_output=True, text=True, env=env)
        want = json.loads(gen.stdout.splitlines()[0])
        r = client.completions.create(model="tiny", prompt=prompt, max_tokens=16, temperature=0)
        check(r.choices[0].text == want["text"], f"greedy completion equals ilr generate's: {want['text']!r}")
        check(r.usage.completion_tokens == len(want["ids"]), f"usage counts {len(want['ids'])} completion tokens")

        msgs = [{"role": "user", "content": "Tell me a story"}]
        c = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=12, temperature=0)
        check(c.choices[0].message.role == "assistant" and isinstance(c.choices[0].message.content, str),
              "chat completion has an assistant message")
        pieces = [ch.choices[0].delta.content or "" for ch in
                  client.chat.completions.create(model="tiny", messages=msgs, max_tokens=12, temperature=0, stream=True)
                  if ch.choices]
        check("".join(pieces) == c.choices[0].message.content, f"streamed chat ({len(pieces)} chunks) adds up to the same text")
        pieces = [ch.choices[0].text for ch in
                  client.completions.create(model="tiny", prompt=prompt, max_tokens=16, temperature=0, stream=True)]
        check("".join(pieces) == want["text"], "streamed completion adds up to ilr generate's text")

        n3 = client.completions.create(model="tiny", prompt="Once upon", max_tokens=10, n=3, seed=42, temperature=0.9)
        again = client.completions.create(model="tiny", prompt="Once upon", max_tokens=10, n=3, seed=42, temperature=0.9)
        check(len(n3.choices) == 3 and [x.text for x in n3.choices] == [x.text for x in again.choices],
              "n=3 with a seed: three choices, the same on a second call")

        stop = want["text"][4:6]
        s = client.completions.create(model="tiny", prompt=prompt, max_tokens=16, temperature=0, stop=[stop])
        check(s.choices[0].text == want["text"][:want["text"].index(stop)] and s.choices[0].finish_reason == "stop",
              f"stop {stop!r} cuts the text before it, finish_reason stop")

        try:
            client.completions.create(model="nope", prompt="a")
            check(False, "unknown model refused")
        except openai.NotFoundError as e:
            check(e.status_code == 404 and "nope" in str(e), "unknown model: NotFoundError (404)")
        try:
            client.chat.completions.create(model="tiny", messages=msgs, temperature=5)
            check(False, "temperature 5 refused")
        except openai.BadRequestError as e:
            check(e.status_code == 400 and e.body["param"] == "temperature", "temperature 5: BadRequestError naming it")
        d = client.chat.completions.create(model="idea3:tiny+twin", messages=[{"role": "user", "content": "What is 2 + 3?"}],
                                           max_tokens=8, extra_body={"discussion": {"max_peer_tokens": 32}})
        disc = d.model_extra["discussion"]
        check(len(d.choices) == 2 and [c.model_extra["agent"] for c in d.choices] == ["tiny", "twin"],
              "discussion idea3:tiny+twin: one choice per agent, each naming its agent")
        check(disc["protocol"] == "idea3" and [(t["agent"], t["stage"]) for t in disc["transcript"]] ==
              [("tiny", "share"), ("twin", "share"), ("tiny", "analyse"), ("twin", "analyse"), ("tiny", "fuse"), ("twin", "fuse")],
              "discussion: the transcript in the extra field, share / analyse / fuse per agent")
        check([c.message.content for c in d.choices] == [disc["transcript"][4]["content"], disc["transcript"][5]["content"]],
              "discussion: each choice is its agent's fused answer")
        # the same weights under two names answer alike: the agents' shared answers are the same text
        check(disc["transcript"][0]["content"] == disc["transcript"][1]["content"] and d.usage.completion_tokens > 0,
              "discussion: two agents with the same weights share the same answer; usage counts every message")
        try:
            client.chat.completions.create(model="idea3:tiny+tiny", messages=msgs)
            check(False, "a repeated agent refused")
        except openai.BadRequestError as e:
            check(e.status_code == 400 and e.body["param"] == "model", "idea3:tiny+tiny: BadRequestError naming 'model'")
        print("serve_openai: all checks passed")
        return 0
    except (AssertionError, openai.OpenAIError, subprocess.CalledProcessError) as e:
        print(f"serve_openai: FAILED: {e}")
        return 1
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

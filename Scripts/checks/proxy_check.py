"""Proxy mode driven by the official OpenAI and Anthropic Python SDKs (run by 40-proxy.sh).

Two gateways proxy to mock_provider.py. Every phase compares Tollgate's ledger in Redis with
what the mock billed, to the token. Exits non-zero on the first failed expectation.

Usage: proxy_check.py CONFIG_JSON   (gateways, gateway_pids, mock, token, redis_port, prefix)
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import anthropic
import openai

CONFIG = json.loads(sys.argv[1])
GATEWAYS = CONFIG["gateways"]
MOCK = CONFIG["mock"]
TOKEN = CONFIG["token"]
PREFIX = CONFIG["prefix"]
CHECKED = []


def expect(condition, what):
    if not condition:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)
    CHECKED.append(what)


def mock_billed(reset=False):
    request = urllib.request.Request(MOCK + ("/mock/reset" if reset else "/mock/billed"), method="POST" if reset else "GET")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def redis(*args):
    return subprocess.run(["redis-cli", "-p", str(CONFIG["redis_port"]), "--raw", *args], check=True, capture_output=True, text=True).stdout


def ledger(org):
    """Every ledger entry of the organisation: usage, cost, format, request id. Read once no
    hold is live: the gateway commits a call just after its answer has gone out."""
    wait_for_holds()
    entries = []
    for key in redis("--scan", "--pattern", f"{PREFIX}:*:ledger").split():
        lines = redis("XRANGE", key, "-", "+").splitlines()
        for line in lines:
            columns = line.split("\t")
            if len(columns) >= 26 and columns[0] == "1" and columns[3] == org:
                entries.append({"request_id": columns[2], "input": int(columns[7]) + int(columns[8]) + int(columns[9]),
                                "output": int(columns[10]) + int(columns[11]), "cost": int(columns[12]), "format": columns[15],
                                "user": columns[20], "feature": columns[21], "session": columns[22],
                                "experiment": columns[26] if len(columns) > 26 else ""})
    return entries


def live_holds():
    total = 0
    for key in redis("--scan", "--pattern", f"{PREFIX}:*:holds").split():
        total += int(redis("ZCARD", key).strip() or 0)
    return total


def wait_for_holds(count=0, seconds=10):
    deadline = time.time() + seconds
    while live_holds() != count and time.time() < deadline:
        time.sleep(0.05)
    return live_holds()


def openai_client(key, gateway=0, retries=0, **headers):
    return openai.OpenAI(base_url=GATEWAYS[gateway] + "/v1", api_key=TOKEN, max_retries=retries, timeout=20,
                         default_headers={"x-tollgate-api-key": key, **headers})


def anthropic_client(key, gateway=0, retries=0, **headers):
    return anthropic.Anthropic(base_url=GATEWAYS[gateway], api_key=TOKEN, max_retries=retries, timeout=20,
                               default_headers={"x-tollgate-api-key": key, **headers})


def chat(text):
    return [{"role": "system", "content": "You are terse."}, {"role": "user", "content": text}]


def totals(entries):
    return sum(e["input"] for e in entries), sum(e["output"] for e in entries)


def matches_mock(org, before, calls, what):
    billed = mock_billed()
    entries = ledger(org)
    expect(wait_for_holds() == 0, f"{what}: no hold left")
    expect(len(entries) == calls, f"{what}: one ledger entry per call ({len(entries)} for {calls})")
    expect(all(e["format"] != "counted" for e in entries), f"{what}: every entry carries the provider's usage")
    expect(totals(entries) == (billed["input_tokens"] - before["input_tokens"], billed["output_tokens"] - before["output_tokens"]),
           f"{what}: ledger tokens {totals(entries)} equal the mock's bill")


def phase_basic():
    before = mock_billed()
    client = openai_client("acme-key", **{"x-tollgate-user": "u-1", "x-tollgate-feature": "search", "x-tollgate-session": "s-1",
                                          "x-tollgate-experiment": "exp-b"})
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=chat("hello there mock:output=5"), max_tokens=20)
    expect(answer.choices[0].message.content == "w0 w1 w2 w3 w4 ", "chat: the provider's answer is relayed unchanged")
    expect(answer.usage.completion_tokens == 5, "chat: the provider's usage reaches the client")
    client.chat.completions.create(model="gpt-4o-mini", messages=chat("again mock:output=7"), max_completion_tokens=9)

    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=chat("stream mock:output=6"), stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    expect(text == "w0 w1 w2 w3 w4 w5 ", "chat stream: every token relayed")
    expect(all(c.choices for c in chunks) and all(c.usage is None for c in chunks),
           "chat stream: the usage chunk the gateway asked for is hidden from a client that did not")
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=chat("stream mock:output=4"), stream=True,
                                                 stream_options={"include_usage": True}))
    expect(chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4, "chat stream: a client that asked gets the usage chunk")

    response = client.responses.create(model="gpt-4o-mini", input="responses api mock:output=3", max_output_tokens=16)
    expect(response.output_text == "w0 w1 w2 ", "responses: answer relayed")
    events = list(client.responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": "stream mock:output=5"}], stream=True))
    expect(events[-1].type == "response.completed" and events[-1].response.usage.output_tokens == 5, "responses stream: completed with usage")

    claude = anthropic_client("acme-key", **{"x-tollgate-user": "u-2"})
    message = claude.messages.create(model="claude-sonnet-4", max_tokens=32, system="Be brief.",
                                     messages=[{"role": "user", "content": "hi mock:output=6"}])
    expect(message.content[0].text == "w0 w1 w2 w3 w4 w5 " and message.usage.output_tokens == 6, "messages: answer and usage relayed")
    events = list(claude.messages.create(model="claude-sonnet-4", max_tokens=32, messages=[{"role": "user", "content": "s mock:output=9"}],
                                         stream=True))
    expect([e.type for e in events][-2:] == ["message_delta", "message_stop"] and events[-2].usage.output_tokens == 9,
           "messages stream: relayed to message_stop with usage")
    matches_mock("acme", before, 8, "SDK calls (chat, responses, messages; streaming and not)")
    entries = ledger("acme")
    expect(entries[0]["user"] == "u-1" and entries[0]["feature"] == "search" and entries[0]["session"] == "s-1"
           and entries[0]["experiment"] == "exp-b",
           "attribution headers reach the ledger")


def phase_refusals():
    client = openai_client("tight-key")
    calls = 0
    try:
        for _ in range(3):
            client.chat.completions.create(model="gpt-4o-mini", messages=chat("x mock:output=1"), max_tokens=4)
            calls += 1
        expect(False, "openai: the third call within the RPM window is refused")
    except openai.RateLimitError as error:
        expect(error.status_code == 429 and error.body.get("type") == "rate_limit_exceeded",
               f"openai: RateLimitError with type rate_limit_exceeded ({error.body})")
        expect(error.response.headers.get("x-ratelimit-limit-requests") == "2" and error.response.headers.get("retry-after"),
               "openai: the 429 carries x-ratelimit-* and Retry-After")
    started = time.time()
    retrying = openai_client("tight-key", retries=4)
    retrying.chat.completions.create(model="gpt-4o-mini", messages=chat("after retry mock:output=1"), max_tokens=4)
    expect(time.time() - started < 15, "openai: the SDK's own retries (Retry-After) get the call through")
    calls += 1

    claude = anthropic_client("tight-claude-key")
    try:
        for _ in range(3):
            claude.messages.create(model="claude-sonnet-4", max_tokens=4, messages=[{"role": "user", "content": "x mock:output=1"}])
            calls += 1
        expect(False, "anthropic: the third call within the RPM window is refused")
    except anthropic.RateLimitError as error:
        expect(error.status_code == 429 and error.body["error"]["type"] == "rate_limit_error",
               f"anthropic: RateLimitError with type rate_limit_error ({error.body})")
        expect(error.response.headers.get("anthropic-ratelimit-requests-limit") == "2", "anthropic: the 429 carries anthropic-ratelimit-* headers")
    anthropic_client("tight-claude-key", retries=4).messages.create(model="claude-sonnet-4", max_tokens=4,
                                                                   messages=[{"role": "user", "content": "y mock:output=1"}])
    calls += 1
    try:
        openai_client("tight-key", retries=3).chat.completions.create(model="gpt-4o-mini", messages=chat("x"), max_tokens=50_000)
        expect(False, "a request larger than the limit is refused")
    except openai.RateLimitError as error:
        expect(error.response.headers.get("x-should-retry") == "false", "a request that can never fit says so (x-should-retry: false)")
    entries = ledger("tight")
    expect(len(entries) == calls, f"refused calls are billed nothing ({len(entries)} entries for {calls} calls)")


def phase_cuts():
    before = mock_billed()
    client = openai_client("cuts-key")
    # The upstream cuts the stream: the client sees an error; the prompt plus what was relayed is billed.
    try:
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=chat("cut mock:output=20 mock:cut=3"), stream=True):
            pass
        expect(False, "an upstream cut reaches the client as an error")
    except Exception:  # the SDK's or its HTTP library's error for a cut stream
        pass
    claude = anthropic_client("cuts-key")
    try:
        for _ in claude.messages.create(model="claude-sonnet-4", max_tokens=64, stream=True,
                                        messages=[{"role": "user", "content": "cut mock:output=20 mock:cut=2"}]):
            pass
        expect(False, "an upstream cut reaches the anthropic client as an error")
    except Exception:
        pass
    expect(wait_for_holds() == 0, "upstream cuts: no hold left")
    counted = [e for e in ledger("cuts") if e["format"] == "counted"]
    expect(len(counted) == 2 and all(e["input"] > 0 and e["output"] > 0 for e in counted),
           f"upstream cuts: billed as counted prompt + relayed output, never zero ({counted})")

    # The client leaves after three chunks: the gateway reads on for the provider's usage.
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=chat("leave mock:output=30 mock:delay_ms=10"), stream=True)
    for index, _ in enumerate(stream):
        if index == 3:
            break
    stream.close()
    stream = claude.messages.create(model="claude-sonnet-4", max_tokens=64, stream=True,
                                    messages=[{"role": "user", "content": "leave mock:output=30 mock:delay_ms=10"}])
    for index, _ in enumerate(stream):
        if index == 4:
            break
    stream.close()
    # On the second gateway (no disconnect drain) the relayed output is counted instead.
    quick = openai_client("cuts-key", gateway=1)
    stream = quick.chat.completions.create(model="gpt-4o-mini", messages=chat("leave mock:output=40 mock:delay_ms=20"), stream=True)
    for index, _ in enumerate(stream):
        if index == 3:
            break
    stream.close()
    expect(wait_for_holds() == 0, "client disconnects: no hold left")
    entries = ledger("cuts")
    expect(len(entries) == 5, f"client disconnects: one entry each ({len(entries)})")
    provider = [e for e in entries if e["format"] != "counted"]
    billed = mock_billed()
    expect(len(provider) == 2 and totals(provider) == (billed["input_tokens"] - before["input_tokens"],
                                                       billed["output_tokens"] - before["output_tokens"]),
           "client disconnects: the provider's usage, read after the client left, is billed to the token")
    expect(all(e["input"] > 0 for e in entries), "nothing billed as zero")


def phase_restart():
    """SIGTERM to gateway 1 mid-stream: the stream it serves finishes and is committed once."""
    client = openai_client("restart-key")
    before = mock_billed()
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=chat("restart mock:output=40 mock:delay_ms=50"), stream=True)
    text = ""
    for index, chunk in enumerate(stream):
        if index == 2:
            os.kill(CONFIG["gateway_pids"][0], signal.SIGTERM)
        text += "".join(c.delta.content or "" for c in chunk.choices)
    expect(text == "".join(f"w{i} " for i in range(40)), "gateway restart: the in-flight stream completes")
    matches_mock("restart", before, 1, "gateway restart mid-stream")


def phase_overshoot():
    """64 concurrent SDK clients over two gateways against a daily token and budget limit."""
    before = mock_billed()
    limit_tokens, budget_nanos = CONFIG["capped_tokens"], CONFIG["capped_budget_nanos"]
    refused = [0]
    lock = threading.Lock()

    def worker(index):
        client = openai_client("capped-key", gateway=index % 2)
        for _ in range(8):
            try:
                client.chat.completions.create(model="gpt-4o-mini", messages=chat("load mock:output=40"), max_tokens=48)
            except openai.RateLimitError:
                with lock:
                    refused[0] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    expect(not any(t.is_alive() for t in threads), "64 clients finished")
    entries = ledger("capped")
    used = sum(e["input"] + e["output"] for e in entries)
    cost = sum(e["cost"] for e in entries)
    expect(refused[0] > 0, f"the limits were reached ({refused[0]} refusals, {len(entries)} calls)")
    expect(used <= limit_tokens, f"zero token overshoot: {used} <= {limit_tokens}")
    expect(cost <= budget_nanos, f"zero budget overshoot: {cost} <= {budget_nanos} nano-units")
    matches_mock("capped", before, len(entries), "64 concurrent clients")
    print(f"  64 clients: {len(entries)} calls admitted, {refused[0]} refused, {used}/{limit_tokens} tokens, "
          f"{cost}/{budget_nanos} nano-units", flush=True)


if __name__ == "__main__":
    mock_billed(reset=True)
    for phase in (phase_basic, phase_refusals, phase_cuts, phase_overshoot, phase_restart):
        started = time.time()
        phase()
        print(f"  {phase.__name__}: ok ({time.time() - started:.1f} s)", flush=True)
    print(f"proxy check: {len(CHECKED)} expectations met")

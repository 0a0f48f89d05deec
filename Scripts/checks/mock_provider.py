"""A local stand-in for the OpenAI and Anthropic APIs, for proxy-mode checks and benchmarks.

Serves POST /v1/chat/completions, /v1/responses and /v1/messages on 127.0.0.1, streaming
(server-sent events, chunked) and not, and bills every call it completes: GET /mock/billed
answers {"calls", "input_tokens", "output_tokens", "cut_calls"}; POST /mock/reset zeroes it.

What a call does is steered by words in its prompt (so no header has to pass the gateway):
  mock:output=N     answer N output tokens (default 8, never more than the request's bound)
  mock:cut=K        streams only: close the connection after K content events, no usage
  mock:delay_ms=D   streams only: wait D ms before each content event
Input tokens billed: the prompt's words plus 3 per message plus 3, never more than any
count that gives each byte of text at least a token (the gateway's bound).

Usage: python3 mock_provider.py PORT
"""

import asyncio
import json
import re
import sys
import time

BILLED = {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cut_calls": 0}
DIRECTIVE = re.compile(r"mock:(\w+)=(\d+)")


def texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)
    elif isinstance(value, dict):
        for key in ("content", "text", "input"):
            if key in value:
                yield from texts(value[key])


def plan(api, body):
    prompt = body.get("messages") if api != "responses" else body.get("input")
    parts = list(texts(prompt)) + list(texts(body.get("system"))) + list(texts(body.get("instructions")))
    messages = len(prompt) if isinstance(prompt, list) else 1
    words = sum(len(part.split()) for part in parts)
    directives = {name: int(value) for part in parts for name, value in DIRECTIVE.findall(part)}
    bound = body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens") or 1 << 30
    output = min(directives.get("output", 8), bound)
    return words + 3 * messages + 3, output, directives


def usage_object(api, input_tokens, output_tokens):
    if api == "chat":
        return {"prompt_tokens": input_tokens, "completion_tokens": output_tokens, "total_tokens": input_tokens + output_tokens,
                "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}
    if api == "responses":
        return {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens,
                "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def words(count):
    return [f"w{i} " for i in range(count)]


def whole_answer(api, model, input_tokens, output_tokens):
    text = "".join(words(output_tokens))
    usage = usage_object(api, input_tokens, output_tokens)
    created = int(time.time())
    if api == "chat":
        return {"id": "chatcmpl-mock", "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None}, "logprobs": None,
                             "finish_reason": "stop"}], "usage": usage}
    if api == "responses":
        return {"id": "resp_mock", "object": "response", "created_at": created, "model": model, "status": "completed",
                "output": [{"id": "msg_mock", "type": "message", "role": "assistant", "status": "completed",
                            "content": [{"type": "output_text", "text": text, "annotations": []}]}],
                "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "usage": usage}
    return {"id": "msg_mock", "type": "message", "role": "assistant", "model": model, "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": None, "usage": usage}


def sse(data, event=None):
    head = f"event: {event}\n" if event else ""
    return (head + "data: " + (data if isinstance(data, str) else json.dumps(data)) + "\n\n").encode()


def stream_events(api, model, body, input_tokens, output_tokens):
    """(content?, bytes) pairs: content events count towards mock:cut."""
    created = int(time.time())
    usage = usage_object(api, input_tokens, output_tokens)
    if api == "chat":
        base = {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": created, "model": model}
        yield False, sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        for word in words(output_tokens):
            yield True, sse({**base, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]})
        yield False, sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            yield False, sse({**base, "choices": [], "usage": usage})
        yield False, sse("[DONE]")
    elif api == "responses":
        response = {"id": "resp_mock", "object": "response", "created_at": created, "model": model, "status": "in_progress",
                    "output": [], "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}
        yield False, sse({"type": "response.created", "response": response, "sequence_number": 0}, "response.created")
        for index, word in enumerate(words(output_tokens)):
            yield True, sse({"type": "response.output_text.delta", "item_id": "msg_mock", "output_index": 0, "content_index": 0,
                             "delta": word, "logprobs": [], "sequence_number": index + 1}, "response.output_text.delta")
        done = whole_answer("responses", model, input_tokens, output_tokens)
        yield False, sse({"type": "response.completed", "response": done, "sequence_number": output_tokens + 1}, "response.completed")
    else:
        message = {"id": "msg_mock", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": None,
                   "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}
        yield False, sse({"type": "message_start", "message": message}, "message_start")
        yield False, sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, "content_block_start")
        for word in words(output_tokens):
            yield True, sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}}, "content_block_delta")
        yield False, sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        yield False, sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                          "usage": {"output_tokens": output_tokens}}, "message_delta")
        yield False, sse({"type": "message_stop"}, "message_stop")


API_BY_PATH = {"/v1/chat/completions": "chat", "/v1/responses": "responses", "/v1/messages": "messages"}


async def respond(writer, status, body, content_type="application/json"):
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    writer.write(f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(payload)}\r\n"
                 f"x-request-id: req_mock\r\n\r\n".encode() + payload)
    await writer.drain()


async def handle_call(writer, path, body):
    api = API_BY_PATH[path]
    model = body.get("model", "?")
    input_tokens, output_tokens, directives = plan(api, body)
    if not body.get("stream"):
        BILLED["calls"] += 1
        BILLED["input_tokens"] += input_tokens
        BILLED["output_tokens"] += output_tokens
        await respond(writer, "200 OK", whole_answer(api, model, input_tokens, output_tokens))
        return True
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nx-request-id: req_mock\r\n\r\n")
    content = 0
    delay = directives.get("delay_ms", 0) / 1000
    cut = directives.get("cut")
    for is_content, event in stream_events(api, model, body, input_tokens, output_tokens):
        if is_content:
            if cut is not None and content >= cut:
                BILLED["cut_calls"] += 1
                writer.close()
                return False
            content += 1
            if delay:
                await asyncio.sleep(delay)
        writer.write(b"%x\r\n%s\r\n" % (len(event), event))
        await writer.drain()
    BILLED["calls"] += 1
    BILLED["input_tokens"] += input_tokens
    BILLED["output_tokens"] += output_tokens
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return True


async def connection(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:] if ":" in line)}
            length = int(headers.get("content-length", "0"))
            raw = await reader.readexactly(length) if length else b""
            if method == "GET" and path == "/mock/billed":
                await respond(writer, "200 OK", BILLED)
            elif method == "POST" and path == "/mock/reset":
                for name in BILLED:
                    BILLED[name] = 0
                await respond(writer, "200 OK", BILLED)
            elif method == "POST" and path in API_BY_PATH:
                if not await handle_call(writer, path, json.loads(raw)):
                    return
            else:
                await respond(writer, "404 Not Found", {"error": {"message": "no such route", "type": "invalid_request_error"}})
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(connection, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))

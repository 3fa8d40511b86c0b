#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz: corpus/<target>/<name>, small hand-made inputs derived from
docs/contract/TOOLS.md and from the bad-input cases of tests/integration/tst_stdioserver.cpp
(rpcErrors_data, hostileInput_data). Run it from anywhere; it rewrites the four directories.
Files libFuzzer found and that are worth keeping may be added by hand next to these."""

import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    path = os.path.join(HERE, target, name)
    with open(path, "wb") as f:
        f.write(data)


def reset(target):
    d = os.path.join(HERE, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)


# ---------------------------------------------------------------- json
reset("json")
for name, text in {
    "null": "null", "true": "true", "false": "false", "zero": "0", "negzero": "-0",
    "numbers": "[0,-1,1.5,1e3,1E+300,-2.5e-7,1e400,-1e400,9223372036854775807,9223372036854775808,"
               "-9223372036854775809,123456789012345678901234567890,0.1e-400,1.0]",
    "strings": r'["", "a", "\"\\\/\b\f\n\r\t", "\u0000\u001f\u00e9\u20ac", "\ud83d\ude00", "é€😀"]',
    "object": '{"a":1,"b":[true,false,null],"c":{"d":"e"}}',
    "whitespace": ' \t\r\n{ "a" : [ 1 , 2 ] , "b" : { } } \n',
    "duplicates": '{"a":1,"a":2,"b":{"c":1,"c":1}}',
    "duplicates_many": "{" + ",".join('"k%d":%d' % (i, i) for i in range(20)) + ',"k3":0}',
    "duplicates_nested": '[{"x":[{"y":1,"y":2}]}]',
    "deep_ok": "[" * 256 + "]" * 256,
    "deep_too_far": "[" * 257 + "]" * 257,
    "deep_objects": '{"a":' * 100 + "1" + "}" * 100,
    "empty_containers": '[[],{},[{}],{"":[]}]',
    "escaped_key": r'{"\u0061":1,"a":2}',
    "bad_trailing_comma": '{"a":1,}',
    "bad_single_quotes": "{'a':1}",
    "bad_trailing_garbage": '{"a":1} x',
    "bad_leading_zero": "[01]",
    "bad_dot": "[1.]",
    "bad_exponent": "[1e]",
    "bad_lone_surrogate": r'["\ud800"]',
    "bad_low_surrogate": r'["\udc00"]',
    "bad_escape": r'["\x"]',
    "bad_control": '["a\tb"]',
    "bad_unterminated": '["abc',
    "bad_literal": "[tru]",
    "empty": "",
    "bad_nan": "[NaN, Infinity]",
}.items():
    write("json", name, text)
write("json", "utf8_valid", b'["\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"]')
write("json", "utf8_overlong", b'["\xc0\xaf"]')
write("json", "utf8_surrogate", b'["\xed\xa0\x80"]')
write("json", "utf8_truncated", b'["\xe2\x82"]')
write("json", "utf8_outside", b'\xff[1]')
write("json", "utf8_too_big", b'["\xf4\x90\x80\x80"]')

# ---------------------------------------------------------------- mcp
# First byte: the session's state (tests/fuzz/fuzz_mcp.cpp). 1: initialized with 2025-11-25.
reset("mcp")
INIT, NOINIT, BATCH, FAILING, READONLY, SMALLREPLY, CLOSING = 1, 0, 3, 1 | 4, 1 | 8, 1 | 16, 1 | 32
EXTRA = 1 | 64


def rpc(id_, method, params=None):
    m = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        m["params"] = params
    return m


def call(id_, tool, args):
    return rpc(id_, "tools/call", {"name": tool, "arguments": args})


def mcp(name, mode, message):
    text = message if isinstance(message, (bytes, str)) else json.dumps(message, separators=(",", ":"))
    if isinstance(text, str):
        text = text.encode()
    write("mcp", name, bytes([mode]) + text)


mcp("initialize", NOINIT, rpc(1, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                                "clientInfo": {"name": "c", "version": "1"}}))
mcp("initialize_unknown_version", NOINIT, rpc(1, "initialize", {"protocolVersion": "1999-01-01"}))
mcp("initialize_twice", INIT, rpc(2, "initialize", {"protocolVersion": "2025-06-18"}))
mcp("call_before_initialize", NOINIT, call(1, "state_get", {"key": "k"}))
mcp("ping", NOINIT, rpc("p", "ping"))
mcp("tools_list", INIT, rpc(2, "tools/list"))
mcp("tools_list_cursor", INIT, rpc(2, "tools/list", {"cursor": "x"}))
mcp("notification_initialized", NOINIT, {"jsonrpc": "2.0", "method": "notifications/initialized"})
mcp("notification_cancelled", INIT, {"jsonrpc": "2.0", "method": "notifications/cancelled",
                                     "params": {"requestId": 7, "reason": "x"}})
mcp("response_from_client", INIT, {"jsonrpc": "2.0", "id": 5, "result": {}})
calls = {
    "state_set": {"key": "k", "value": {"a": [1, 2]}, "ttl_seconds": 5, "agent_id": "a", "if_version": 0,
                  "require_lease": {"resource_id": "r", "holder_id": "h", "fence": 3}},
    "state_get": {"key": "k"},
    "state_delete": {"key": "k", "if_version": "3"},
    "state_list": {"prefix": "a/", "delimiter": "/", "limit": 10, "cursor": "c"},
    "state_watch": {"prefix": "a/", "since_revision": 0, "timeout_seconds": 1, "kind": "kv"},
    "workflow_create": {"name": "n", "tags": {"t": "v"}, "input": [1], "idempotency_key": "i", "max_attempts": 3},
    "workflow_discover": {"tags": {"t": "v"}, "status": "created", "name": "n", "claimable": True, "limit": 5},
    "workflow_claim": {"run_id": "r", "agent_id": "a", "ttl_seconds": 30},
    "workflow_claim_next": {"agent_id": "a", "tags": {"t": "v"}, "name": "n"},
    "workflow_heartbeat": {"run_id": "r", "agent_id": "a", "fence": 4},
    "workflow_checkpoint": {"run_id": "r", "step": 0, "output": {"o": 1}, "agent_id": "a", "fence": 4},
    "workflow_complete": {"run_id": "r", "agent_id": "a", "status": "done", "result": None},
    "workflow_resume": {"run_id": "r"},
    "workflow_status": {"run_id": "r"},
    "workflow_list": {"limit": 2, "cursor": "x"},
    "lease_acquire": {"resource_id": "r", "holder_id": "h", "ttl_seconds": 10},
    "lease_release": {"resource_id": "r", "holder_id": "h", "fence": 1},
    "lease_renew": {"resource_id": "r", "holder_id": "h", "ttl_seconds": 10, "fence": 1},
    "lease_list": {"prefix": "", "limit": 1},
    "session_save": {"session_id": "s", "context": {"c": 1}, "agent_id": "a"},
    "session_restore": {"session_id": "s"},
    "session_list": {"prefix": "s", "limit": 3, "cursor": "x"},
    "session_delete": {"session_id": "s"},
    "history_log": {"key": "k", "kind": "kv", "n": 5, "before_revision": 10},
    "sidecar_health": {},
    "sidecar_reset": {"confirm": "RESET"},
}
for i, (tool, args) in enumerate(calls.items()):
    mcp("call_" + tool, INIT, call(i + 10, tool, args))
mcp("call_state_get_failing", FAILING, call(3, "state_get", {"key": "k"}))
mcp("call_state_list_failing", FAILING, call(3, "state_list", {}))
mcp("call_state_watch_failing", FAILING, call(3, "state_watch", {"since_revision": 0}))
mcp("call_health_failing", FAILING, call(3, "sidecar_health", {}))
mcp("call_reset_readonly", READONLY, call(3, "sidecar_reset", {"confirm": "RESET"}))
mcp("call_set_readonly", READONLY, call(3, "state_set", {"key": "k", "value": 1}))
mcp("call_too_large", SMALLREPLY, call(3, "workflow_status", {"run_id": "r"}))
mcp("call_closing", CLOSING, call(3, "state_get", {"key": "k"}))
mcp("call_numeric_string", INIT, call(3, "history_log", {"n": "5", "key": None}))
mcp("call_bad_args", INIT, call(3, "state_set", {"key": 5, "extra": True}))
mcp("call_dup_args", INIT, '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"state_get",'
                           '"arguments":{"key":"a","key":"b"}}}')
mcp("batch", BATCH, [rpc(1, "ping"), call(2, "state_get", {"key": "k"}),
                     {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2}}])
mcp("batch_notifications_only", BATCH, [{"jsonrpc": "2.0", "method": "notifications/initialized"}])
mcp("batch_in_1125", INIT, [rpc(4, "ping")])
mcp("batch_empty", BATCH, "[]")
mcp("extra_now", EXTRA, rpc(5, "x/now"))
mcp("extra_later", EXTRA, rpc(5, "x/later", {"a": 1}))
mcp("extra_declined", EXTRA, rpc(5, "resources/list"))
mcp("extra_batch", BATCH | 64, [rpc(5, "x/later"), rpc(6, "x/now"), rpc(7, "y")])
mcp("batch_nested", BATCH, [[rpc(4, "ping")], 1, None])
# rpcErrors_data
for name, line in {
    "err_truncated": '{"jsonrpc":"2.0","id":1,"method":"ping"',
    "err_not_json": "hello there",
    "err_trailing_garbage": '{"jsonrpc":"2.0","id":2,"method":"ping"} x',
    "err_single_quotes": "{'jsonrpc':'2.0','id':3,'method':'ping'}",
    "err_not_object": '"ping"',
    "err_bad_version": '{"jsonrpc":"1.0","id":5,"method":"ping"}',
    "err_version_number": '{"jsonrpc":2.0,"id":6,"method":"ping"}',
    "err_id_object": '{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}',
    "err_id_bool": '{"jsonrpc":"2.0","id":true,"method":"ping"}',
    "err_id_null": '{"jsonrpc":"2.0","id":null,"method":"ping"}',
    "err_no_method": '{"jsonrpc":"2.0","id":8}',
    "err_method_array": '{"jsonrpc":"2.0","id":9,"method":["ping"]}',
    "err_dup_envelope": '{"jsonrpc":"2.0","id":10,"method":"ping","method":"tools/list"}',
    "err_unknown_method": '{"jsonrpc":"2.0","id":"x-12","method":"frobnicate","params":{}}',
    "err_unknown_tool": '{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"state_destroy","arguments":{}}}',
    "err_tool_name_array": '{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":["state_get"]}}',
    "err_no_params": '{"jsonrpc":"2.0","id":16,"method":"tools/call"}',
    "err_args_array": '{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"state_get","arguments":["k"]}}',
    "err_params_string": '{"jsonrpc":"2.0","id":18,"method":"tools/call","params":"state_get"}',
    "err_big_id": '{"jsonrpc":"2.0","id":123456789012345678901234567890e5,"method":"ping"}',
}.items():
    mcp(name, INIT, line)
mcp("err_invalid_utf8", INIT, b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"state_set",'
                              b'"arguments":{"key":"k","value":"\xff\xfe"}}}')
mcp("err_deep_value", INIT, b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"state_set",'
                            b'"arguments":{"key":"d","value":' + b"[" * 300 + b"]" * 300 + b"}}}")

# ---------------------------------------------------------------- http
reset("http")
CRLF = "\r\n"


def http(name, *lines, body=b""):
    head = CRLF.join(lines) + CRLF + CRLF
    write("http", name, head.encode() + (body if isinstance(body, bytes) else body.encode()))


init = json.dumps(rpc(1, "initialize", {"protocolVersion": "2025-11-25"}), separators=(",", ":"))
http("post_initialize", "POST /mcp HTTP/1.1", "Host: 127.0.0.1:8080", "Content-Type: application/json",
     "Accept: application/json, text/event-stream", "Content-Length: %d" % len(init), body=init)
http("post_session", "POST /mcp HTTP/1.1", "Host: h", "Mcp-Session-Id: abc", "MCP-Protocol-Version: 2025-11-25",
     "Authorization: Bearer t0k3n", "Content-Length: 2", body="{}")
http("get_sse", "GET /mcp HTTP/1.1", "Host: h", "Accept: text/event-stream", "Last-Event-ID: 5",
     "Mcp-Session-Id: abc")
http("delete_session", "DELETE /mcp HTTP/1.1", "Host: h", "Mcp-Session-Id: abc")
http("get_health_10", "GET /healthz HTTP/1.0")
http("get_health_10_keepalive", "GET /healthz HTTP/1.0", "Connection: keep-alive")
http("head_metrics", "HEAD /metrics?x=1&y=2#frag HTTP/1.1", "Host: h")
http("options_star", "OPTIONS * HTTP/1.1", "Host: h")
http("absolute_form", "GET http://example.com:80/mcp?q=1 HTTP/1.1", "Host: example.com")
http("connect", "CONNECT example.com:443 HTTP/1.1", "Host: example.com:443")
http("unknown_method", "BREW /pot HTTP/1.1", "Host: h")
http("long_method", "A" * 40 + " / HTTP/1.1", "Host: h")
http("chunked", "POST /mcp HTTP/1.1", "Host: h", "Transfer-Encoding: chunked",
     body="5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n")
http("chunked_expect", "POST /mcp HTTP/1.1", "Host: h", "Transfer-Encoding: chunked", "Expect: 100-continue",
     body="2\r\n{}\r\n0\r\n\r\n")
http("expect_length", "POST /mcp HTTP/1.1", "Host: h", "Expect: 100-Continue", "Content-Length: 2", body="{}")
http("pipelined", "GET /a HTTP/1.1", "Host: h", "",
     "POST /b HTTP/1.1", "Host: h", "Content-Length: 3", "", "abcGET /c HTTP/1.1", "Host: h")
http("no_host", "GET / HTTP/1.1")
http("http2", "GET / HTTP/2.0", "Host: h")
http("http09", "GET /")
http("too_long_body", "POST / HTTP/1.1", "Host: h", "Content-Length: 999999999")
http("negative_length", "POST / HTTP/1.1", "Host: h", "Content-Length: -1")
http("double_length", "POST / HTTP/1.1", "Host: h", "Content-Length: 1", "Content-Length: 2", body="ab")
http("length_and_chunked", "POST / HTTP/1.1", "Host: h", "Content-Length: 3", "Transfer-Encoding: chunked",
     body="0\r\n\r\n")
http("space_in_name", "GET / HTTP/1.1", "Host: h", "Bad Name: x")
http("empty_value", "GET / HTTP/1.1", "Host: h", "X-Empty:", "X-Next: y")
http("folded_header", "GET / HTTP/1.1", "Host: h", "X-Fold: a", " b", "X-Trail: c \t")
http("big_header", "GET / HTTP/1.1", "Host: h", "X-Big: " + "v" * 1100)
http("leading_crlf", "", "", "GET / HTTP/1.1", "Host: h")
http("upgrade", "GET /ws HTTP/1.1", "Host: h", "Connection: Upgrade", "Upgrade: websocket")
http("connection_close", "GET / HTTP/1.1", "Host: h", "Connection: close")
write("http", "bare_lf", b"GET / HTTP/1.1\nHost: h\n\n")
write("http", "nul_in_target", b"GET /a\x00b HTTP/1.1\r\nHost: h\r\n\r\n")
write("http", "garbage", bytes(range(256)))

# ---------------------------------------------------------------- stdio
# First byte: the line limit, 1 + byte % 64 (tests/fuzz/fuzz_stdio.cpp).
reset("stdio")
ping = json.dumps(rpc(1, "ping"), separators=(",", ":"))


def stdio(name, limit, data):
    write("stdio", name, bytes([limit - 1]) + (data if isinstance(data, bytes) else data.encode()))


stdio("one_line", 64, ping[:60] + "\n")
stdio("crlf", 64, "abc\r\ndef\r\n")
stdio("blank_lines", 64, "\n\n  \n\t\r\nx\n")
stdio("oversized", 8, "0123456789abcdef\nshort\n")
stdio("oversized_at_end", 8, "ok\n0123456789abcdef")
stdio("exact_limit", 4, "abcd\nabcde\nabc\r\n")
stdio("no_final_newline", 64, "first\nlast")
stdio("cr_only", 64, "a\rb\rc\n")
stdio("double_cr", 64, "a\r\r\n")
stdio("binary", 32, bytes(range(256)))
stdio("many_short", 2, "a\n" * 50)

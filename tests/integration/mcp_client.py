"""A small MCP client for tests: JSON-RPC 2.0 over a server's stdio, one
JSON message a line (the MCP stdio transport), as an AI host would drive it."""

import json
import os
import selectors
import subprocess
import time

PROTOCOL_VERSION = "2024-11-05"


class McpError(Exception):
    """A JSON-RPC error response."""

    def __init__(self, error):
        super().__init__(error.get("message", ""))
        self.error = error


class McpClient:
    def __init__(self, argv, env, log_path):
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                        env=env, text=True, bufsize=1)
        self.next_id = 1
        self.buffer = ""
        info = self.request("initialize", {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                                           "clientInfo": {"name": "pgsieve-tests", "version": "1"}})
        self.server_info = info.get("serverInfo", {})
        self.notify("notifications/initialized")

    def _send(self, message):
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def notify(self, method, params=None):
        self._send({"jsonrpc": "2.0", "method": method, "params": params or {}})

    def _read_line(self, deadline):
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        fd = self.process.stdout.fileno()
        while "\n" not in self.buffer:
            remaining = deadline - time.time()
            if remaining <= 0 or not selector.select(remaining):
                raise TimeoutError(f"no reply from the MCP server; its stderr: {self.stderr()}")
            chunk = os.read(fd, 65536).decode()
            if not chunk:
                raise EOFError(f"the MCP server exited; its stderr: {self.stderr()}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split("\n", 1)
        return line

    def request(self, method, params=None, timeout=60):
        request_id = self.next_id
        self.next_id += 1
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        deadline = time.time() + timeout
        while True:
            line = self._read_line(deadline)
            if not line.strip().startswith("{"):
                continue  # a server that logs to stdout
            try:
                message = json.loads(line)
            except ValueError:
                continue  # a logged object (pg-mcp-server prints NOTICEs as JavaScript objects)
            if message.get("id") != request_id:
                continue  # notifications (logging, progress)
            if "error" in message:
                raise McpError(message["error"])
            return message["result"]

    def call_tool(self, name, arguments):
        """The tool's text output, and whether it reports an error (isError,
        a JSON-RPC error, or an {"error": …} payload as pg-mcp-server sends)."""
        try:
            result = self.request("tools/call", {"name": name, "arguments": arguments})
        except McpError as e:
            return e.error.get("message", ""), True
        text = "\n".join(c.get("text", "") for c in result.get("content", []) if c.get("type") == "text")
        failed = bool(result.get("isError"))
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and ("error" in payload or payload.get("success") is False):
            failed = True
            if isinstance(payload.get("error"), str):
                text = payload["error"]  # what the model reads, unescaped
        return text, failed

    def stderr(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()[-4000:]

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

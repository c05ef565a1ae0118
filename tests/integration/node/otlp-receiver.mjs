// An OTLP/HTTP logs receiver for tests: decodes each request with the
// OpenTelemetry project's own generated protobuf code
// (@opentelemetry/otlp-transformer, built from opentelemetry-proto) and
// appends one JSON line per log record to FILE. A body that does not decode
// (or has a string that is not UTF-8) is answered 400 and recorded as {"error": …}.
// A request above MAX_BYTES (if given) is answered 413, as a collector's
// max_request_body_size does. A request holding the bytes POISON (if given)
// is answered 400 and recorded as {"poisoned": …}, as a pipeline that refuses
// a record's content would.
// With RECEIVER_TLS_CERT and RECEIVER_TLS_KEY set it listens for https.
// Each new connection is recorded as {"connection": N} (keep-alive is seen).
//   node otlp-receiver.mjs PORT FILE [MAX_BYTES] [POISON]
import { appendFileSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createSecureServer } from "node:https";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
// Strict, as proto3 requires of string fields: invalid UTF-8 fails the
// decode (protobufjs would replace it silently).
const protobuf = require("protobufjs/minimal");
const strict = new TextDecoder("utf-8", { fatal: true });
protobuf.util.utf8.read = (buffer, start, end) => strict.decode(buffer.subarray(start, end));
const root = require("@opentelemetry/otlp-transformer/build/src/generated/root.js");
const Request = root.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
const Response = root.opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse;

const [port, file, maxBytes, poison] = process.argv.slice(2);

function value(any) {
  if (any.stringValue !== undefined && any.stringValue !== null) return any.stringValue;
  if (any.intValue !== undefined && any.intValue !== null) return Number(any.intValue);
  return null;
}

function handle(req, res) {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    if (poison && body.includes(poison)) {
      appendFileSync(file, JSON.stringify({ poisoned: body.length }) + "\n");
      res.writeHead(400).end();
      return;
    }
    if (maxBytes && Number(maxBytes) > 0 && body.length > Number(maxBytes)) {
      appendFileSync(file, JSON.stringify({ refused: body.length }) + "\n");
      res.writeHead(413).end();
      return;
    }
    let request;
    try {
      if (req.headers["content-type"] !== "application/x-protobuf") throw new Error(`content-type ${req.headers["content-type"]}`);
      // A plain Uint8Array: protobufjs reads a Buffer's strings with Node's lenient decoder.
      const bytes = new Uint8Array(body.buffer, body.byteOffset, body.length);
      request = Request.toObject(Request.decode(bytes), { longs: String, bytes: String, defaults: false });
    } catch (e) {
      appendFileSync(file, JSON.stringify({ error: String(e) }) + "\n");
      res.writeHead(400).end();
      return;
    }
    const lines = [];
    for (const rl of request.resourceLogs ?? []) {
      const resource = Object.fromEntries((rl.resource?.attributes ?? []).map((kv) => [kv.key, value(kv.value)]));
      for (const sl of rl.scopeLogs ?? []) {
        for (const r of sl.logRecords ?? []) {
          lines.push(JSON.stringify({
            resource,
            scope: sl.scope?.name,
            time: r.timeUnixNano,
            severity: r.severityNumber,
            body: r.body ? value(r.body) : null,
            traceId: r.traceId ? Buffer.from(r.traceId, "base64").toString("hex") : null,
            spanId: r.spanId ? Buffer.from(r.spanId, "base64").toString("hex") : null,
            attributes: Object.fromEntries((r.attributes ?? []).map((kv) => [kv.key, value(kv.value)])),
          }));
        }
      }
    }
    if (lines.length) appendFileSync(file, lines.join("\n") + "\n");
    res.writeHead(200, { "Content-Type": "application/x-protobuf" }).end(Response.encode({}).finish());
  });
}

const tls = process.env.RECEIVER_TLS_CERT
  ? { cert: readFileSync(process.env.RECEIVER_TLS_CERT), key: readFileSync(process.env.RECEIVER_TLS_KEY) }
  : null;
const server = tls ? createSecureServer(tls, handle) : createServer(handle);
let connections = 0;
server.on(tls ? "secureConnection" : "connection", () => {
  connections += 1;
  appendFileSync(file, JSON.stringify({ connection: connections }) + "\n");
});
server.listen(Number(port), "127.0.0.1", () => console.log("listening"));

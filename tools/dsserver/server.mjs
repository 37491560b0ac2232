// Starts the pinned Durable Streams reference server for syncd's tests, demo and
// benchmarks. Configuration comes from flags; the listening URL is printed as one
// JSON line on stdout ({"url": "http://127.0.0.1:PORT"}) once the server accepts
// connections. The server stops on SIGTERM/SIGINT or when stdin closes, so a test
// harness that dies never leaves it running; --stay ignores stdin, for a server a
// person runs (`make server`) and stops with Ctrl-C. Why it stops goes to stderr.
import { DurableStreamTestServer, createRegistryHooks } from "@durable-streams/server"
import { parseArgs } from "node:util"

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    "data-dir": { type: "string" },
    "long-poll-timeout-ms": { type: "string", default: "30000" },
    registry: { type: "boolean", default: false },
    "no-compression": { type: "boolean", default: false },
    // Keep running when stdin closes (run in the background, under nohup, or
    // by a process manager); stop with SIGINT/SIGTERM only.
    stay: { type: "boolean", default: false },
  },
})

const server = new DurableStreamTestServer({
  host: values.host,
  port: Number(values.port),
  dataDir: values["data-dir"],
  longPollTimeout: Number(values["long-poll-timeout-ms"]),
  compression: !values["no-compression"],
})

// The registry hooks need the server's own URL, known only after start; the
// server reads its hooks at each create/delete, so installing them late is fine.
let hooks = null
const url = await server.start()
if (values.registry) {
  hooks = createRegistryHooks(server.store, url)
}
server.options.onStreamCreated = hooks?.onStreamCreated
server.options.onStreamDeleted = hooks?.onStreamDeleted

process.stdout.write(JSON.stringify({ url }) + "\n")

let stopping = false
async function stop(why) {
  if (stopping) return
  stopping = true
  process.stderr.write(`dsserver: stopping: ${why}\n`)
  try {
    await server.stop()
  } finally {
    process.exit(0)
  }
}
process.on("SIGTERM", () => stop("SIGTERM"))
process.on("SIGINT", () => stop("SIGINT"))
if (values.stay) {
  process.stderr.write(`dsserver: serving ${url}${values["data-dir"] ? ` (data in ${values["data-dir"]})` : " (in memory)"}; Ctrl-C to stop\n`)
} else {
  // A harness holds our stdin open and closes it (or dies) to stop us; a
  // person who started us with `&` learns why we stopped and what to do.
  const why = "standard input closed (--stay keeps the server running; `make server` passes it)"
  process.stdin.on("end", () => stop(why))
  process.stdin.on("close", () => stop(why))
  process.stdin.resume()
}

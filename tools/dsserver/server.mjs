// Starts the pinned Durable Streams reference server for syncd's tests, demo and
// benchmarks. Configuration comes from flags; the listening URL is printed as one
// JSON line on stdout ({"url": "http://127.0.0.1:PORT"}) once the server accepts
// connections. The server stops on SIGTERM/SIGINT or when stdin closes, so a test
// harness that dies never leaves it running.
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
async function stop() {
  if (stopping) return
  stopping = true
  try {
    await server.stop()
  } finally {
    process.exit(0)
  }
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
process.stdin.on("end", stop)
process.stdin.on("close", stop)
process.stdin.resume()

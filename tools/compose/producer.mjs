// Demo producer for docker-compose.yml: creates a JSON-mode Durable Stream and
// appends chat-like State Protocol events to it every INTERVAL_MS, so syncd has
// rows to keep changing. Users come online and go offline, messages are posted,
// sometimes edited, and old ones are deleted so the table stays small.
//
// Environment: STREAM_URL (default http://streams:4437/v1/stream/chat),
// INTERVAL_MS (default 1000), KEEP_MESSAGES (default 50). No dependencies: Node's
// built-in fetch only.

const streamURL = process.env.STREAM_URL ?? "http://streams:4437/v1/stream/chat"
const intervalMs = Number(process.env.INTERVAL_MS ?? "1000")
const keepMessages = Number(process.env.KEEP_MESSAGES ?? "50")

const users = ["alice", "bob", "carol", "dave"]
const rooms = ["general", "random"]
const lines = [
  "hi all", "anyone up for lunch?", "the build is green", "shipping it",
  "can someone review my PR?", "brb", "looks good to me", "good night",
]

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
let stopping = false
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => { stopping = true })
}

function event(type, key, operation, value, txid) {
  const ev = { type, key, headers: { operation, txid, timestamp: new Date().toISOString() } }
  if (value !== undefined) ev.value = value
  return ev
}

// createStream is idempotent: the reference server answers 201 for a new
// stream and 200 when it exists with the same configuration. JSON mode needs
// Content-Type application/json.
async function createStream() {
  for (let attempt = 1; !stopping; attempt++) {
    try {
      const res = await fetch(streamURL, { method: "PUT", headers: { "content-type": "application/json" } })
      if (res.status === 200 || res.status === 201) return
      throw new Error(`PUT ${streamURL}: ${res.status} ${await res.text()}`)
    } catch (err) {
      console.error(`create stream (attempt ${attempt}): ${err.message}`)
      await sleep(Math.min(1000 * attempt, 5000))
    }
  }
}

async function append(events) {
  const res = await fetch(streamURL, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(events),
  })
  if (res.status !== 200 && res.status !== 204) {
    throw new Error(`POST ${streamURL}: ${res.status} ${await res.text()}`)
  }
  return res.headers.get("stream-next-offset")
}

// tick returns the events of the n-th second: one new message, plus now and
// then a presence change, an edit of the previous message, and the deletion
// of the message that fell out of the window.
function tick(n) {
  const txid = `tx-${Date.now()}-${n}`
  const from = users[n % users.length]
  const room = rooms[Math.floor(n / 3) % rooms.length]
  const out = []
  if (n < users.length) {
    out.push(event("user", users[n], "insert", { name: users[n][0].toUpperCase() + users[n].slice(1), status: "online" }, txid))
  } else if (n % 7 === 0) {
    const who = users[(n / 7) % users.length]
    const status = Math.floor(n / 7) % 2 === 0 ? "away" : "online"
    out.push(event("user", who, "update", { name: who[0].toUpperCase() + who.slice(1), status }, txid))
  }
  out.push(event("message", `m${n}`, "insert", { room, from, text: lines[n % lines.length], n }, txid))
  if (n % 5 === 0 && n > 0) {
    const prev = n - 1
    out.push(event("message", `m${prev}`, "update",
      { room: rooms[Math.floor(prev / 3) % rooms.length], from: users[prev % users.length], text: lines[prev % lines.length] + " (edited)", n: prev }, txid))
  }
  if (n >= keepMessages) {
    out.push(event("message", `m${n - keepMessages}`, "delete", undefined, txid))
  }
  return out
}

// A restarted producer counts from m0 again: an insert of an existing key
// replaces the row, so the tables stay consistent.
let n = 0
await createStream()
console.log(`appending chat events to ${streamURL} every ${intervalMs} ms`)
while (!stopping) {
  try {
    const offset = await append(tick(n))
    if (n % 30 === 0) console.log(`appended tick ${n}, stream offset ${offset}`)
    n++
  } catch (err) {
    console.error(`append: ${err.message}; retrying`)
  }
  await sleep(intervalMs)
}

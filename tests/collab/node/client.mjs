// A stock Yjs client (npm yjs + y-websocket WebsocketProvider) driven by a test.
//
// Usage: node client.mjs <serverUrl e.g. ws://127.0.0.1:PORT/collab> <room> <token>
// Reads one JSON command per line on stdin, writes one JSON line per answer or
// event on stdout:
//   {"op":"insert","index":0,"text":"…"}   edit the Y.Text named "content"
//   {"op":"delete","index":0,"length":3}
//   {"op":"text"}                           -> {"text":"…"}
//   {"op":"disconnect"} / {"op":"connect"}   go offline / back online
//   {"op":"awareness","state":{…}}          set the local awareness state
//   {"op":"states"}                         -> {"states":{clientID: state}}
//   {"op":"quit"}
// Events: {"ev":"synced"}, {"ev":"denied","reason":"…"}, {"ev":"status","status":"…"},
// {"ev":"closed","code":N}. Every line carries "client" (this doc's clientID).
import readline from 'node:readline'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const [serverUrl, room, token] = process.argv.slice(2)
const doc = new Y.Doc()
const text = doc.getText('content')
const out = (obj) => process.stdout.write(JSON.stringify({ client: doc.clientID, ...obj }) + '\n')

// y-websocket reports a permission-denied message only through console.warn.
console.warn = (...args) => {
  const message = args.join(' ')
  const match = message.match(/^Permission denied to access [^\n]*\n([\s\S]*)$/)
  if (match) out({ ev: 'denied', reason: match[1] })
  else process.stderr.write(message + '\n')
}

const provider = new WebsocketProvider(serverUrl, room, doc, {
  WebSocketPolyfill: WebSocket,
  params: { token },
  maxBackoffTime: 300
})
provider.on('sync', (synced) => { if (synced) out({ ev: 'synced' }) })
provider.on('status', (event) => out({ ev: 'status', status: event.status }))
provider.on('connection-close', (event) => out({ ev: 'closed', code: event ? event.code : null }))

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', (line) => {
  const cmd = JSON.parse(line)
  switch (cmd.op) {
    case 'insert': text.insert(cmd.index, cmd.text); out({ ok: true }); break
    case 'delete': text.delete(cmd.index, cmd.length); out({ ok: true }); break
    case 'text': out({ text: text.toString() }); break
    case 'disconnect': provider.disconnect(); out({ ok: true }); break
    case 'connect': provider.connect(); out({ ok: true }); break
    case 'awareness': provider.awareness.setLocalState(cmd.state); out({ ok: true }); break
    case 'states': out({ states: Object.fromEntries(provider.awareness.getStates()) }); break
    case 'quit': provider.destroy(); process.exit(0)
    default: out({ error: `unknown op ${cmd.op}` })
  }
})

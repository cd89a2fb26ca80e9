// A stock Yjs client (npm yjs + y-websocket WebsocketProvider) driven by a test.
//
// Usage: node client.mjs <serverUrl e.g. ws://127.0.0.1:PORT/collab> <room> <token> [reset]
// With "reset", it does what the web client does when the server refuses one
// of its changes for good (a permission-denied reason ending "[refused-edit]"):
// drop the Y.Doc and its provider, and start a new copy (new client id) from
// the server's state ({"ev":"reset"}).
// Reads one JSON command per line on stdin, writes one JSON line per answer or
// event on stdout:
//   {"op":"insert","index":0,"text":"…"}   edit the Y.Text named "content"
//   {"op":"append","text":"…"}              insert at the end as it is when the op runs
//   {"op":"delete","index":0,"length":3}
//   {"op":"text"}                           -> {"text":"…"}
//   {"op":"disconnect"} / {"op":"connect"}   go offline / back online
//   {"op":"awareness","state":{…}}          set the local awareness state
//   {"op":"states"}                         -> {"states":{clientID: state}}
//   {"op":"wander","ms":N,"every":M,"name":"…"}  move a cursor every M ms for N ms
//                                           (awareness "cursor": {"index": i}), then reply
//   {"op":"quit"}
// Events: {"ev":"synced"}, {"ev":"denied","reason":"…"}, {"ev":"status","status":"…"},
// {"ev":"closed","code":N}. Every line carries "client" (this doc's clientID).
import readline from 'node:readline'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const [serverUrl, room, token, mode] = process.argv.slice(2)
let doc, text, provider
const out = (obj) => process.stdout.write(JSON.stringify({ client: doc.clientID, ...obj }) + '\n')

function open () {
  doc = new Y.Doc()
  text = doc.getText('content')
  provider = new WebsocketProvider(serverUrl, room, doc, {
    WebSocketPolyfill: WebSocket,
    params: { token },
    maxBackoffTime: 300
  })
  provider.on('sync', (synced) => { if (synced) out({ ev: 'synced' }) })
  provider.on('status', (event) => out({ ev: 'status', status: event.status }))
  provider.on('connection-close', (event) => out({ ev: 'closed', code: event ? event.code : null }))
}
open()

// y-websocket reports a permission-denied message only through console.warn.
console.warn = (...args) => {
  const message = args.join(' ')
  const match = message.match(/^Permission denied to access [^\n]*\n([\s\S]*)$/)
  if (!match) {
    process.stderr.write(message + '\n')
    return
  }
  out({ ev: 'denied', reason: match[1] })
  if (mode === 'reset' && match[1].endsWith('[refused-edit]')) {
    setTimeout(() => { // not inside the provider's message handler
      provider.destroy()
      doc.destroy()
      open()
      out({ ev: 'reset' })
    }, 0)
  }
}

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', (line) => {
  const cmd = JSON.parse(line)
  switch (cmd.op) {
    case 'insert': text.insert(cmd.index, cmd.text); out({ ok: true }); break
    case 'append': text.insert(text.length, cmd.text); out({ ok: true }); break
    case 'delete': text.delete(cmd.index, cmd.length); out({ ok: true }); break
    case 'text': out({ text: text.toString() }); break
    case 'disconnect': provider.disconnect(); out({ ok: true }); break
    case 'connect': provider.connect(); out({ ok: true }); break
    case 'awareness': provider.awareness.setLocalState(cmd.state); out({ ok: true }); break
    case 'states': out({ states: Object.fromEntries(provider.awareness.getStates()) }); break
    case 'wander': {
      let index = 0
      const timer = setInterval(() => {
        index += 1
        provider.awareness.setLocalState({ user: { name: cmd.name, color: '#047857' }, cursor: { index } })
      }, cmd.every)
      setTimeout(() => { clearInterval(timer); out({ ok: true, moves: index }) }, cmd.ms)
      break
    }
    case 'quit': provider.destroy(); process.exit(0)
    default: out({ error: `unknown op ${cmd.op}` })
  }
})

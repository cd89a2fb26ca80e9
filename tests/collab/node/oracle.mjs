// Stock Yjs as an oracle for the update validator's tests: what does a Yjs
// client make of these bytes?
//
// Usage: node oracle.mjs   (one JSON command per line on stdin, one JSON answer per line)
//   {"op":"apply","updates":[b64, …]}
//      -> {"ok":true,"dump":…,"state":b64} after applying each update in order to a
//         new Y.Doc, or {"ok":false,"error":"…"} if Yjs threw on one of them.
//   {"op":"make","steps":[…]}   a real editing session, as the web client's Quill
//         binding would produce it: -> {"updates":[b64, …]} one update per step.
//         Steps: {"insert":[index,text,attrs?]} | {"delete":[index,length]} |
//         {"format":[index,length,attrs]} | {"embed":[index,object]} |
//         {"map":[key,value]} | {"array":[values]} | {"nested":key} |
//         {"client":n} (switch to another Y.Doc synced so far)
//
// "dump" is the document as a person would see it, whatever root types it
// holds: each root's delta (text with attributes and embeds), its array items
// and its map entries, nested types included, and a summary of the pending
// structs and delete set (a Yjs client that holds structs it cannot integrate
// yet is not converged with one that does not).
import readline from 'node:readline'
import * as Y from 'yjs'

const b64 = (u8) => Buffer.from(u8).toString('base64')
const bytes = (s) => new Uint8Array(Buffer.from(s, 'base64'))

function dumpType (type, depth) {
  if (depth > 32) return '…'
  const out = {}
  // Every root is read as all three views: Yjs keeps one item list and one
  // map per type whatever class the type was created with.
  const items = []
  let item = type._start
  while (item !== null) {
    if (!item.deleted && item.countable) {
      for (const value of item.content.getContent()) {
        items.push(value instanceof Y.AbstractType ? dumpType(value, depth + 1) : value)
      }
    } else if (!item.deleted) {
      items.push({ format: item.content.key, value: item.content.value })
    }
    item = item.right
  }
  out.items = items
  const map = {}
  for (const [key, entry] of [...type._map.entries()].sort()) {
    if (entry.deleted) continue
    const values = entry.content.getContent()
    const value = values[values.length - 1]
    map[key] = value instanceof Y.AbstractType ? dumpType(value, depth + 1) : value
  }
  out.map = map
  return out
}

function dump (doc) {
  const roots = {}
  for (const name of [...doc.share.keys()].sort()) {
    const root = dumpType(doc.share.get(name), 0)
    // Yjs makes a root when it reads a struct naming it, even one it then
    // skips as already known: an empty root is no content.
    if (root.items.length || Object.keys(root.map).length) roots[name] = root
  }
  const pending = doc.store.pendingStructs
  return {
    roots,
    pending: pending ? [...pending.missing.entries()].sort() : null,
    pendingDs: doc.store.pendingDs ? b64(doc.store.pendingDs) : null
  }
}

function apply (updates) {
  const doc = new Y.Doc()
  try {
    for (const update of updates) Y.applyUpdate(doc, bytes(update))
    return { ok: true, dump: dump(doc), state: b64(Y.encodeStateAsUpdate(doc)) }
  } catch (error) {
    return { ok: false, error: String(error && error.message ? error.message : error) }
  }
}

// Fixed client ids (1001, 1002, …): the same steps make the same bytes, as
// property tests that replay an example need.
function newDoc (index) {
  const doc = new Y.Doc()
  doc.clientID = 1001 + index
  return doc
}

function make (steps) {
  const docs = [newDoc(0)]
  let current = docs[0]
  const updates = []
  for (const step of steps) {
    if (step.client !== undefined) {
      while (docs.length <= step.client) docs.push(newDoc(docs.length))
      const next = docs[step.client]
      Y.applyUpdate(next, Y.encodeStateAsUpdate(current, Y.encodeStateVector(next)))
      current = next
      continue
    }
    const before = Y.encodeStateVector(current)
    const text = current.getText('content')
    if (step.insert) text.insert(step.insert[0], step.insert[1], step.insert[2] || undefined)
    if (step.delete) text.delete(step.delete[0], step.delete[1])
    if (step.format) text.format(step.format[0], step.format[1], step.format[2])
    if (step.embed) text.insertEmbed(step.embed[0], step.embed[1])
    if (step.map) current.getMap('meta').set(step.map[0], step.map[1])
    if (step.array) current.getArray('list').insert(0, step.array)
    if (step.nested) {
      const inner = new Y.Map()
      current.getMap('meta').set(step.nested, inner)
      inner.set('k', new Y.Text('sous-texte 😀'))
    }
    updates.push(b64(Y.encodeStateAsUpdate(current, before)))
  }
  return { updates }
}

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', (line) => {
  const cmd = JSON.parse(line)
  let answer = { ok: false, error: 'unknown op' }
  try {
    if (cmd.op === 'apply') answer = apply(cmd.updates)
    else if (cmd.op === 'make') answer = make(cmd.steps)
  } catch (error) {
    answer = { ok: false, error: String(error) }
  }
  // BigInts (lib0 "any" tag 122) are not JSON: written as {"bigint": "…"}.
  const bigints = (key, value) => typeof value === 'bigint' ? { bigint: value.toString() } : value
  process.stdout.write(JSON.stringify(answer, bigints) + '\n')
})

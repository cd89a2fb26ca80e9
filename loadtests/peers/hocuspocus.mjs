// Hocuspocus as its documentation starts it, no extension (so no persistence),
// on 127.0.0.1 only. Usage: node hocuspocus.mjs PORT
// (Hocuspocus 3 hands `address` to nothing; the HTTP server is bound here.)
import { Server } from '@hocuspocus/server'

const port = Number(process.argv[2])
const server = new Server({ quiet: true })
process.on('SIGTERM', () => process.exit(0))
server.httpServer.listen(port, '127.0.0.1', () => {
  process.stdout.write(`hocuspocus listening on 127.0.0.1:${port}\n`)
})

import type { AddressInfo, Server } from 'node:net'
import { CongoServer } from '@push.rocks/smartmongo/dist_ts/congodb/index.js'

/**
 * A MongoDB-wire server for the tests, started in-process on a loopback port: CongoServer,
 * a pure-JS server that the official driver talks to over TCP like to mongod.
 *
 * Two of its gaps would make our tests prove nothing, so they are closed here:
 *
 * 1. It lists unique indexes but never enforces them: its write handlers call the storage
 *    directly and skip the index engine. The storage's insert and replace are wrapped to
 *    refuse a document whose unique-index key another document already holds, with the
 *    E11000 error mongod sends (code 11000, which the driver surfaces as MongoServerError).
 * 2. It runs commands from different connections interleaved at every await, so a
 *    findAndModify reads, yields, then writes: two of them can both "win" one document,
 *    which mongod's single-document atomicity forbids. Commands are run one at a time.
 *
 * The URL also asks the driver to poll the server's state instead of streaming it: the
 * server announces the streaming protocol but does not keep it (no moreToCome replies), and
 * the driver, surprised, clears its pool and fails the operations in flight.
 *
 * What it still does not do (keep the adapter away from these, or test on a real MongoDB
 * through MONGODB_URL): multikey indexes, positional `$` and arrayFilters, transactions
 * that roll back, TTL deletion, collation.
 */
export interface MongoWireServer {
  /** Connection string for the official driver (direct connection, polling monitor). */
  url: string
  close(): Promise<void>
  /** An outage: the server stops listening and drops its connections; its data stays. */
  interrupt(): Promise<void>
  /** The end of the outage: listening again on the same port, with the same data. */
  resume(): Promise<void>
}

interface IndexSpec { name: string, key: Record<string, unknown>, unique?: boolean, sparse?: boolean }

interface Storage {
  findAll(db: string, coll: string): Promise<Doc[]>
  getIndexes(db: string, coll: string): Promise<IndexSpec[]>
  insertOne(db: string, coll: string, doc: Doc): Promise<Doc>
  updateById(db: string, coll: string, id: unknown, doc: Doc): Promise<boolean>
}

type Doc = Record<string, unknown> & { _id?: { toHexString?: () => string } }

interface Router { route(command: unknown): Promise<unknown> }

class DuplicateKeyError extends Error {
  code = 11000
  codeName = 'DuplicateKey'
}

const valueAt = (doc: Doc, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), doc)

// mongod compares index keys by BSON value; a missing field indexes as null.
const keyOf = (doc: Doc, index: IndexSpec): string =>
  JSON.stringify(Object.keys(index.key).map((field) => valueAt(doc, field) ?? null))

const idOf = (doc: Doc): string | undefined => doc._id?.toHexString?.() ?? (doc._id === undefined ? undefined : String(doc._id))

function enforceUniqueIndexes (storage: Storage): void {
  const check = async (db: string, coll: string, doc: Doc) => {
    const unique = (await storage.getIndexes(db, coll)).filter((i) => i.unique && i.name !== '_id_')
    if (unique.length === 0) return
    const others = (await storage.findAll(db, coll)).filter((d) => idOf(d) !== idOf(doc))
    for (const index of unique) {
      if (index.sparse && Object.keys(index.key).every((f) => valueAt(doc, f) === undefined)) continue
      const key = keyOf(doc, index)
      if (others.some((other) => keyOf(other, index) === key)) {
        throw new DuplicateKeyError(`E11000 duplicate key error collection: ${db}.${coll} index: ${index.name} dup key: ${key}`)
      }
    }
  }
  const insertOne = storage.insertOne.bind(storage)
  const updateById = storage.updateById.bind(storage)
  storage.insertOne = async (db, coll, doc) => {
    await check(db, coll, doc)
    return insertOne(db, coll, doc)
  }
  storage.updateById = async (db, coll, id, doc) => {
    await check(db, coll, doc)
    return updateById(db, coll, id, doc)
  }
}

function serializeCommands (router: Router): void {
  const route = router.route.bind(router)
  let tail: Promise<unknown> = Promise.resolve()
  router.route = (command) => {
    const run = tail.then(() => route(command))
    tail = run.catch(() => {})
    return run
  }
}

export async function startMongoWireServer (): Promise<MongoWireServer> {
  const server = new CongoServer({ port: 0, host: '127.0.0.1', storage: 'memory' })
  const internals = server as unknown as { storage: Storage, commandRouter: Router, server: Server, options: { port: number } }
  enforceUniqueIndexes(internals.storage)
  serializeCommands(internals.commandRouter)
  await server.start()
  const { port } = internals.server.address() as AddressInfo
  return {
    url: `mongodb://127.0.0.1:${port}/?directConnection=true&serverMonitoringMode=poll`,
    close: () => server.stop(),
    // stop() keeps the in-memory storage (it only persists when given a path); start() again
    // on the port it had.
    interrupt: () => server.stop(),
    async resume () {
      internals.options.port = port
      await server.start()
    }
  }
}

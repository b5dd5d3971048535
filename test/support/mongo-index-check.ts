import { AsyncLocalStorage } from 'node:async_hooks'
import { isDeepStrictEqual } from 'node:util'
import type { CommandStartedEvent, Document, MongoClient } from 'mongodb'
import type { UserStore } from '../../stores/types.js'

/**
 * Tells whether every query a MongoDB store sends is served by an index it creates.
 *
 * A CommandLog listens to a client's commandStarted events (the client needs
 * `monitorCommands: true`) and tags each command with the store operation that sent it
 * (wrap the store with `tag`). It keeps the indexes from the createIndexes commands the
 * store sends at init(): exactly what the adapter creates, partial filters included (the
 * wire test server lists indexes without them). `servingIndex` then applies the query
 * planner's rules to each filter; with a real MongoDB, `explain` and `planVerdict` ask the
 * server itself.
 */

export interface IndexSpec {
  collection: string
  name: string
  key: Array<[string, number | string]>
  unique?: boolean
  sparse?: boolean
  partialFilterExpression?: Document
}

export interface Query {
  /** The store method that sent it; '(none)' when sent outside one. */
  operation: string
  /** find, findAndModify, update, delete, aggregate, count or distinct. */
  command: string
  database: string
  collection: string
  filter: Document
  sort: Array<[string, number]>
  /** The command that explain takes for this query: the one sent, less the driver's fields, one statement. */
  explainable: Document
}

export interface Insert { operation: string, collection: string }

/** The commands that carry no query and need no index. */
const NO_QUERY = new Set(['createIndexes', 'listIndexes', 'listCollections', 'dropDatabase', 'drop', 'getMore', 'killCursors', 'endSessions',
  'hello', 'isMaster', 'ismaster', 'ping', 'buildInfo', 'explain', 'abortTransaction', 'commitTransaction'])

// Fields of a sent command that are the driver's, not the query's; explain refuses some of them.
const DRIVER_FIELDS = ['$db', 'lsid', '$clusterTime', '$readPreference', 'txnNumber', 'autocommit', 'startTransaction', 'readConcern',
  'writeConcern', 'apiVersion', 'apiStrict', 'apiDeprecationErrors', 'maxTimeMS']

const entriesOf = (value: unknown): Array<[string, unknown]> =>
  value instanceof Map ? [...value.entries()] : value !== null && typeof value === 'object' ? Object.entries(value) : []

export class CommandLog {
  readonly queries: Query[] = []
  readonly inserts: Insert[] = []
  readonly indexes: IndexSpec[] = []
  /** Commands this log does not know how to read: a store that sends one needs this file taught. */
  readonly unknown: Array<{ operation: string, command: string }> = []
  /** Store operations called, whatever they sent. */
  readonly called = new Set<string>()
  private readonly current = new AsyncLocalStorage<string>()

  attach (client: MongoClient): this {
    client.on('commandStarted', (event) => this.record(event))
    return this
  }

  /** Runs fn as the named operation: what it sends is tagged with the name. */
  run<T> (operation: string, fn: () => T): T {
    this.called.add(operation)
    return this.current.run(operation, fn)
  }

  /** The store with each of its methods run as the operation of that name. */
  tag (store: UserStore): UserStore {
    const tagged: Record<string, unknown> = {}
    for (const [name, method] of Object.entries(store) as Array<[string, (...args: unknown[]) => unknown]>) {
      tagged[name] = (...args: unknown[]) => this.run(name, () => method.apply(store, args))
    }
    return tagged as unknown as UserStore
  }

  record (event: CommandStartedEvent): void {
    const operation = this.current.getStore() ?? '(none)'
    const { commandName: name, command, databaseName: database } = event
    const collection = String(command[name])
    const base = Object.fromEntries(Object.entries(command).filter(([key]) => !DRIVER_FIELDS.includes(key)))
    const query = (filter: unknown, sort: unknown, explainable: Document) => {
      this.queries.push({ operation, command: name, database, collection, filter: (filter ?? {}) as Document, sort: sortOf(sort), explainable })
    }
    switch (name) {
      case 'createIndexes':
        for (const index of command.indexes as Document[]) {
          this.indexes.push({
            collection,
            name: String(index.name),
            key: entriesOf(index.key) as Array<[string, number | string]>,
            ...(index.unique === true ? { unique: true } : {}),
            ...(index.sparse === true ? { sparse: true } : {}),
            ...(index.partialFilterExpression ? { partialFilterExpression: index.partialFilterExpression as Document } : {})
          })
        }
        return
      case 'insert':
        this.inserts.push({ operation, collection })
        return
      case 'find':
        return query(command.filter, command.sort, base)
      case 'findAndModify':
        return query(command.query, command.sort, base)
      case 'count':
        return query(command.query, undefined, base)
      case 'distinct':
        return query(command.query, undefined, base)
      case 'update':
        for (const statement of command.updates as Document[]) query(statement.q, undefined, { ...base, updates: [statement] })
        return
      case 'delete':
        for (const statement of command.deletes as Document[]) query(statement.q, undefined, { ...base, deletes: [statement] })
        return
      case 'aggregate': {
        // Only a leading $match (and a $sort right after it) can use an index.
        const pipeline = command.pipeline as Document[]
        const match = pipeline[0]?.$match
        const sort = match ? pipeline[1]?.$sort : pipeline[0]?.$sort
        return query(match, sort, base)
      }
      default:
        if (!NO_QUERY.has(name)) this.unknown.push({ operation, command: name })
    }
  }
}

function sortOf (sort: unknown): Array<[string, number]> {
  return entriesOf(sort).map(([field, direction]) => [field, direction === -1 || direction === 'desc' || direction === 'descending' ? -1 : 1])
}

/** How a predicate on a field can bound an index scan; 'unbounded' ones ($ne, $nin, an unanchored regex...) cannot. */
export type Bound = 'eq' | 'null' | 'in' | 'prefix' | 'range' | 'unbounded'

// Better bounds first: the planner's preference, roughly.
const BOUNDS: Bound[] = ['eq', 'null', 'in', 'prefix', 'range', 'unbounded']
const best = (bounds: Bound[]): Bound => BOUNDS.find((b) => bounds.includes(b)) ?? 'unbounded'
const EQUALITY = new Set<Bound>(['eq', 'null', 'in'])

const isBson = (value: object): boolean => '_bsontype' in value
const isOperatorObject = (value: unknown): value is Document =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date) && !(value instanceof RegExp) &&
  !(value instanceof Map) && !isBson(value) && Object.keys(value).length > 0 && Object.keys(value).every((k) => k.startsWith('$'))

/** A regex MongoDB scans as a range of index keys: anchored, case-sensitive, with a literal first character. */
function isPrefixRegex (source: string, flags: string): boolean {
  return source.startsWith('^') && !/[im]/.test(flags) && /^\^(?:[^\\.*+?()[\]{}|^$]|\\[\\^$.*+?()[\]{}|/-])/.test(source)
}

function regexOf (value: unknown): { source: string, flags: string } | null {
  if (value instanceof RegExp) return { source: value.source, flags: value.flags }
  if (value !== null && typeof value === 'object' && (value as { _bsontype?: string })._bsontype === 'BSONRegExp') {
    const { pattern, options } = value as unknown as { pattern: string, options: string }
    return { source: pattern, flags: options }
  }
  return null
}

export function boundOf (value: unknown): Bound {
  const regex = regexOf(value)
  if (regex) return isPrefixRegex(regex.source, regex.flags) ? 'prefix' : 'unbounded'
  if (value === null) return 'null'
  if (!isOperatorObject(value)) return 'eq'
  return best(Object.entries(value).flatMap(([op, arg]): Bound[] => {
    switch (op) {
      case '$eq': return [arg === null ? 'null' : 'eq']
      case '$in':
        if (!Array.isArray(arg) || arg.some((a) => regexOf(a) && boundOf(a) !== 'prefix')) return ['unbounded']
        return [arg.includes(null) ? 'null' : 'in']
      case '$gt': case '$gte': case '$lt': case '$lte': return ['range']
      case '$regex': {
        const regex = regexOf(arg) ?? { source: String(arg), flags: '' }
        const flags = typeof value.$options === 'string' ? value.$options : regex.flags
        return [isPrefixRegex(regex.source, flags) ? 'prefix' : 'unbounded']
      }
      case '$options': return []
      default: return ['unbounded']
    }
  }))
}

/** A filter as the planner reads it: the predicates ANDed at the top, and the $or lists among them. */
interface Conjunction {
  fields: Map<string, Array<{ bound: Bound, value: unknown }>>
  ors: Document[][]
}

function conjunction (filter: Document, into: Conjunction = { fields: new Map(), ors: [] }): Conjunction {
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and') for (const part of value as Document[]) conjunction(part, into)
    else if (key === '$or') into.ors.push(value as Document[])
    // $nor, $expr, $where, $comment...: nothing an index scan can be bounded by.
    else if (key.startsWith('$')) continue
    else into.fields.set(key, [...(into.fields.get(key) ?? []), { bound: boundOf(value), value }])
  }
  return into
}

/** The filter with the i-th of its $or lists replaced by one branch of it. */
function withBranch (conj: Conjunction, i: number, branch: Document): Conjunction {
  const copy: Conjunction = { fields: new Map([...conj.fields].map(([f, p]) => [f, [...p]])), ors: conj.ors.filter((_, j) => j !== i) }
  return conjunction(branch, copy)
}

/** Whether the filter only matches documents that the partial index holds (equalities and $exists: true). */
function implies (conj: Conjunction, expression: Document): boolean {
  return Object.entries(expression).every(([field, condition]) => {
    if (field === '$and') return (condition as Document[]).every((part) => implies(conj, part))
    const predicates = conj.fields.get(field) ?? []
    const equals = (expected: unknown) => predicates.some(({ value }) =>
      isDeepStrictEqual(value, expected) || (isOperatorObject(value) && isDeepStrictEqual(value.$eq, expected)))
    if (!isOperatorObject(condition)) return equals(condition)
    return Object.entries(condition).every(([op, arg]) => {
      if (op === '$eq') return equals(arg)
      if (op === '$exists' && arg === true) return predicates.some(({ bound }) => bound !== 'null' && bound !== 'unbounded')
      // $gt, $type...: not worked out here; the index is taken as not serving the filter.
      return false
    })
  })
}

/** The leading keys of the index that the filter bounds, with how; null when the index cannot serve it. */
function boundKeys (index: IndexSpec, conj: Conjunction): Array<[string, Bound]> | null {
  const used: Array<[string, Bound]> = []
  for (const [field, direction] of index.key) {
    const bound = best((conj.fields.get(field) ?? []).map((p) => p.bound))
    if (bound === 'unbounded') break
    // A hashed key bounds equalities only; text and geo keys take their own operators.
    if (typeof direction !== 'number' && !(direction === 'hashed' && EQUALITY.has(bound))) break
    used.push([field, bound])
    if (!EQUALITY.has(bound)) break
  }
  if (used.length === 0) return null
  // A sparse index lacks the documents without the field: a filter that may match them cannot use it.
  if (index.sparse && used.some(([, bound]) => bound === 'null')) return null
  if (index.partialFilterExpression && !implies(conj, index.partialFilterExpression)) return null
  return used
}

/** Whether a scan of the index, past the equality-bound keys, gives the documents in this order (or its reverse). */
function givesOrder (index: IndexSpec, equalities: Set<string>, sort: Array<[string, number]>): boolean {
  const wanted = sort.filter(([field]) => !equalities.has(field))
  const keys = index.key.filter(([field]) => !equalities.has(field))
  const signs = wanted.map(([field, direction], i) => {
    const key = keys[i]
    return key !== undefined && key[0] === field && typeof key[1] === 'number' ? Math.sign(key[1]) * direction : 0
  })
  return signs.every((s) => s === 1) || signs.every((s) => s === -1)
}

export interface Served {
  /** The index (or, for an $or, one per branch) that serves the filter. */
  indexes: IndexSpec[]
  /** How, e.g. 'tokenHash_unique (tokenHash eq)'. */
  how: string
  /** false when the documents found are sorted in memory. */
  indexOrder: boolean
}

/**
 * The index that serves the filter by the usual rule: its first key is a field the filter
 * bounds (an equality, a range or a case-sensitive anchored regex); a sparse or partial
 * index only when the filter cannot match what it leaves out. Failing that, an $or whose
 * every branch is served (an OR plan), or, for an empty filter, an index that gives the
 * sort order. null when none does: the query would scan the collection.
 */
export function servingIndex (filter: Document, sort: Array<[string, number]>, indexes: IndexSpec[]): Served | null {
  return served(conjunction(filter), sort, indexes)
}

function served (conj: Conjunction, sort: Array<[string, number]>, indexes: IndexSpec[]): Served | null {
  const candidates = indexes.flatMap((index) => {
    const used = boundKeys(index, conj)
    if (!used) return []
    const equalities = new Set(used.filter(([, bound]) => EQUALITY.has(bound)).map(([field]) => field))
    const point = index.unique === true && equalities.size === index.key.length
    return [{ index, used, point, indexOrder: givesOrder(index, equalities, sort) }]
  })
  // A unique index bound by equalities on all its keys finds one document: the planner takes it.
  const score = (c: typeof candidates[number]) => (c.point ? 1000 : 0) + c.used.filter(([, b]) => EQUALITY.has(b)).length * 10 + c.used.length + (c.indexOrder ? 1 : 0)
  const top = Math.max(...candidates.map(score))
  // Equally good by these rules: the planner races them on the data; each is named.
  const chosen = candidates.filter((c) => score(c) === top)
  if (chosen.length > 0) {
    return {
      indexes: chosen.map((c) => c.index),
      how: chosen.map((c) => `${c.index.name} (${c.used.map(([f, b]) => `${f} ${b}`).join(', ')})`).join(' or '),
      indexOrder: chosen.every((c) => c.indexOrder)
    }
  }
  for (const [i, or] of conj.ors.entries()) {
    const branches = or.map((branch) => served(withBranch(conj, i, branch), [], indexes))
    if (branches.every((b) => b !== null)) {
      return { indexes: branches.flatMap((b) => b.indexes), how: `OR(${branches.map((b) => b.how).join(' | ')})`, indexOrder: sort.length === 0 }
    }
  }
  if (conj.fields.size === 0 && conj.ors.length === 0 && sort.length > 0) {
    const ordered = indexes.find((index) => !index.sparse && !index.partialFilterExpression && givesOrder(index, new Set(), sort))
    if (ordered) return { indexes: [ordered], how: `${ordered.name} (whole index, in its order)`, indexOrder: true }
  }
  return null
}

/** The filter's shape: each field with how it is bounded, the values left out. */
export function describeFilter (filter: Document): string {
  const parts = Object.entries(filter).map(([key, value]) => {
    if (key === '$and' || key === '$or' || key === '$nor') return `${key}: [${(value as Document[]).map(describeFilter).join(' | ')}]`
    if (key.startsWith('$')) return key
    return `${key}: ${boundOf(value)}`
  })
  return `{ ${parts.join(', ')} }`
}

export const describeSort = (sort: Array<[string, number]>): string =>
  sort.length === 0 ? '' : ` sort { ${sort.map(([f, d]) => `${f}: ${d}`).join(', ')} }`

/** The explain command for a query, asking only for the planner's choice (nothing is run or written). */
export function explainCommand (query: Query): Document {
  return { explain: query.explainable, verbosity: 'queryPlanner' }
}

// Stages that read an index: the classic and SBE scans, the _id fast path, and 8.0's express
// path (point lookups on _id or a unique index, reads and single-document writes).
const INDEX_STAGE = /IXSCAN|^IDHACK$|^COUNT_SCAN$|^DISTINCT_SCAN$|^EXPRESS_/

/**
 * The stages of every winning plan in an explain result (a find's, a write's, an
 * aggregation's under $cursor or not, each shard's), and whether they read an index and
 * never scan the collection.
 */
export function planVerdict (explain: Document): { indexed: boolean, stages: string[] } {
  const stages: string[] = []
  let plans = 0
  const collect = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(collect)
    if (node === null || typeof node !== 'object' || isBson(node)) return
    for (const [key, value] of Object.entries(node)) {
      if (key === 'stage' && typeof value === 'string') stages.push(value)
      else if (key !== 'slotBasedPlan') collect(value)
    }
  }
  const find = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(find)
    if (node === null || typeof node !== 'object' || isBson(node)) return
    for (const [key, value] of Object.entries(node)) {
      if (key === 'winningPlan') {
        plans++
        collect(value)
      } else if (key !== 'rejectedPlans') find(value)
    }
  }
  find(explain)
  return { indexed: plans > 0 && !stages.includes('COLLSCAN') && stages.some((s) => INDEX_STAGE.test(s)), stages }
}

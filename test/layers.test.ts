// The package's layers, bottom first: a module imports only from its own layer or below.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, normalize, relative } from 'node:path'

const ROOT = new URL('..', import.meta.url).pathname
// testing/ uses the package as a third party does, so it sits above index.ts.
const LAYERS = ['errors.ts', 'stores', 'schemas', 'services', 'views', 'plugins', 'routes', 'index.ts', 'testing']

function layerOf (file: string): number {
  const top = file.split('/')[0] as string
  return LAYERS.indexOf(top)
}

async function sources (dir: string): Promise<string[]> {
  const entries = await readdir(join(ROOT, dir), { withFileTypes: true, recursive: true })
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => relative(ROOT, join(e.parentPath, e.name)))
}

test('imports only go down: errors, stores, schemas, services, views, plugins, routes, index, testing', async () => {
  const files = ['errors.ts', 'index.ts', ...(await Promise.all(LAYERS.filter((l) => !l.endsWith('.ts')).map(sources))).flat()]
  const wrong: string[] = []
  for (const file of files) {
    const text = await readFile(join(ROOT, file), 'utf8')
    for (const match of text.matchAll(/^(?:import|export)[^'"]*from '(\.[^']+)'/gm)) {
      const target = normalize(join(dirname(file), (match[1] as string).replace(/\.js$/, '.ts')))
      const [from, to] = [layerOf(file), layerOf(target)]
      assert.ok(from >= 0 && to >= 0, `${file} → ${target}: outside the layers`)
      if (to > from) wrong.push(`${file} → ${target}`)
    }
  }
  assert.ok(files.length > 40, `read ${files.length} files`)
  assert.deepEqual(wrong, [])
})

test('below plugins, nothing knows Fastify: services take and return plain values', async () => {
  const below = ['errors.ts', ...(await Promise.all(['stores', 'schemas', 'services', 'views'].map(sources))).flat()]
  const fastify: string[] = []
  for (const file of below) {
    if (/from '(?:fastify|@fastify\/[^']+)'/.test(await readFile(join(ROOT, file), 'utf8'))) fastify.push(file)
  }
  assert.deepEqual(fastify, [])
})

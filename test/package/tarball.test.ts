import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { repoRoot } from '../../scripts/stack-env.ts'

/**
 * The package as a user meets it: `npm pack`, `npm install <tarball>` into an empty project, then plain Node
 * (no tsx) imports it, TypeScript type-checks against it and `npx rowcast` runs. Needs the npm registry (or
 * npm's cache) for the dependencies; no stack.
 */

const run = promisify(execFile)
/** Plain Node and npm: nothing of this test process (tsx) leaks into them. */
const plainEnv = { ...process.env, NODE_OPTIONS: '' }

interface PackedFile {
  path: string
}

describe('the npm package', () => {
  let dir: string
  let project: string
  let files: string[]

  before(
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'rowcast-package-'))
      await run('npm', ['run', '--silent', 'build'], { cwd: repoRoot, env: plainEnv })
      // Built just above: --ignore-scripts keeps `prepare` from building again (and its output out of the JSON).
      const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: repoRoot, env: plainEnv })
      const [packed] = JSON.parse(stdout) as { filename: string; files: PackedFile[] }[]
      files = packed.files.map((f) => f.path)
      project = join(dir, 'app')
      mkdirSync(project)
      writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }, null, 2))
      await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, packed.filename)], { cwd: project, env: plainEnv, timeout: 600_000 })
    },
    { timeout: 660_000 },
  )

  after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  test('the tarball holds the built code, its declarations and the command; no tests, bench, CI scripts or sources', () => {
    for (const needed of ['package.json', 'README.md', 'bin/rowcast.mjs', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'dist/rowcast.schema.json']) {
      assert.ok(files.includes(needed), `${needed} in ${files.join(', ')}`)
    }
    const unwanted = files.filter((f) => /^(test|bench|\.ci|scripts|examples|node_modules)\//.test(f) || (/\.[cm]?ts$/.test(f) && !/\.d\.[cm]?ts$/.test(f)))
    assert.deepEqual(unwanted, [])
  })

  test('plain Node imports the library: functions and classes, a config parsed, errors with their codes', async () => {
    writeFileSync(join(project, 'library.js'), `
import { startDaemon, parseConfig, loadConfig, RowcastError, ConfigError, classify, filterTriggers, composeMessage, routeTopic,
  setKeyPartitionHeaders, handleRowErrors, mapItems, isRejected, secretsOf, registerSecrets, Telemetry, createLogger } from 'rowcast'
const kinds = Object.fromEntries(Object.entries({ startDaemon, parseConfig, loadConfig, RowcastError, ConfigError, classify, filterTriggers,
  composeMessage, routeTopic, setKeyPartitionHeaders, handleRowErrors, mapItems, isRejected, secretsOf, registerSecrets, Telemetry, createLogger })
  .map(([name, value]) => [name, typeof value]))
const config = parseConfig(\`
source: { postgres: { url: "postgres://rowcast@127.0.0.1:9/app" } }
destination: { kafka: { brokers: "127.0.0.1:9" } }
syncs: [{ name: users, model: { table: public.users }, topic: users, message: { column: payload } }]
\`, process.cwd())
let invalid
try {
  parseConfig('syncs: 3', process.cwd())
} catch (error) {
  invalid = { configError: error instanceof ConfigError, rowcastError: error instanceof RowcastError, code: error.code, paths: error.issues.map((i) => i.path) }
}
console.log(JSON.stringify({ kinds, sync: config.syncs[0].name, topic: config.syncs[0].topic, frozen: Object.isFrozen(config), invalid }))
`)
    const { stdout } = await run(process.execPath, ['library.js'], { cwd: project, env: plainEnv })
    const result = JSON.parse(stdout) as { kinds: Record<string, string>; sync: string; topic: unknown; frozen: boolean; invalid: { configError: boolean; rowcastError: boolean; code: string; paths: string[] } }
    for (const [name, kind] of Object.entries(result.kinds)) assert.equal(kind, 'function', name)
    assert.equal(result.sync, 'users')
    assert.equal(result.frozen, true)
    assert.equal(result.invalid.configError, true)
    assert.equal(result.invalid.rowcastError, true)
    assert.equal(result.invalid.code, 'CONFIG_INVALID')
    assert.ok(result.invalid.paths.length > 0)
  })

  test('a TypeScript project (module NodeNext, strict, no skipLibCheck) type-checks against the declarations', async () => {
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false },
      files: ['main.ts'],
    }))
    writeFileSync(join(project, 'main.ts'), `
import { map } from 'rxjs'
import { startDaemon, parseConfig, mapItems, RowcastError, type Daemon, type InsertedOperator, type ModelChange, type RowcastConfig } from 'rowcast'

const config: RowcastConfig = parseConfig('syncs: []', '.')
const upper: InsertedOperator<ModelChange> = map((batch) => mapItems(batch, (change) => ({ ...change, row: { ...change.row, name: String(change.row.name).toUpperCase() } })))
export const daemon: Promise<Daemon> = startDaemon(config, { operators: { users: { afterFilterTriggers: [upper] } } })
// @ts-expect-error: an operator over messages does not fit after classify
void startDaemon(config, { operators: { users: { afterClassify: [map((batch: { items: { value: string }[] }) => batch)] } } })
export const code: string = new RowcastError('CONFIG_INVALID', 'x').code
// @ts-expect-error: a config is not a string
void startDaemon('rowcast.yaml')
`)
    // The repository's TypeScript compiler, on the project: what it resolves comes from the project's node_modules.
    await run(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { cwd: project, env: plainEnv }).catch((error: { stdout?: string }) => {
      assert.fail(`tsc: ${error.stdout ?? String(error)}`)
    })
  })

  test('a custom operator written in TypeScript loads from the built library (tsx registered on demand)', async () => {
    copyFileSync(join(repoRoot, 'examples', 'custom-operator', 'mask-emails.ts'), join(project, 'mask-emails.ts'))
    writeFileSync(join(project, 'operator.js'), `
import { startDaemon, parseConfig, createLogger } from 'rowcast'
const config = parseConfig(\`
source: { postgres: { url: "postgres://rowcast@127.0.0.1:9/app" } }
destination: { kafka: { brokers: "127.0.0.1:9" } }
syncs: [{ name: users, model: { table: public.users }, topic: users, message: { column: payload }, operators: [./mask-emails.ts] }]
\`, process.cwd())
// Nothing listens on port 9: the sync keeps retrying; the operator was loaded when startDaemon returned.
const daemon = await startDaemon(config, { logger: createLogger({ level: 'silent' }), baseDir: process.cwd() })
await daemon.stop()
console.log('loaded')
`)
    const { stdout } = await run(process.execPath, ['operator.js'], { cwd: project, env: plainEnv, timeout: 60_000 })
    assert.equal(stdout.trim(), 'loaded')
  })

  test('`npx rowcast --help` exits 0 and lists the commands', async () => {
    const { stdout } = await run('npx', ['--no', '--', 'rowcast', '--help'], { cwd: project, env: plainEnv, timeout: 60_000 })
    for (const command of ['run', 'validate', 'check', 'setup', 'resync']) assert.match(stdout, new RegExp(`^\\s+${command} `, 'm'), stdout)
  })
})

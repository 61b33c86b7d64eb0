import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { repoRoot } from '../../scripts/stack-env.ts'

/**
 * The configs a user copies: every ```yaml block of README.md and every config in examples/ goes through
 * `rowcast validate` (the real CLI, dist/: `npm run build` first), with the env vars it names set to dummy values
 * and the files it names present. PostgreSQL is not reachable (port 1), so validate checks the config alone.
 * A block marked `<!-- config: fragment -->` on the line before it is part of a config: it must parse as YAML.
 */

const root = repoRoot
const FRAGMENT = '<!-- config: fragment -->'
/** Content by extension for the files a config names (only their shape is checked: validate opens no TLS). */
const DUMMY_FILES: Readonly<Record<string, string>> = {
  '.ts': 'export default (source) => source\n',
  '.pem': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
}

interface Snippet {
  where: string
  text: string
  fragment: boolean
}

function readmeSnippets(): Snippet[] {
  const lines = readFileSync(join(root, 'README.md'), 'utf8').split('\n')
  const out: Snippet[] = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```yaml') continue
    const start = i + 1
    let end = start
    while (end < lines.length && lines[end].trim() !== '```') end++
    const before = lines.slice(0, i).reverse().find((line) => line.trim() !== '') ?? ''
    out.push({ where: `README.md:${start}`, text: lines.slice(start, end).join('\n'), fragment: before.trim() === FRAGMENT })
    i = end
  }
  return out
}

function exampleSnippets(): Snippet[] {
  return readdirSync(join(root, 'examples'))
    .filter((name) => name.endsWith('.yaml') || name.endsWith('.yml'))
    .map((name) => ({ where: `examples/${name}`, text: readFileSync(join(root, 'examples', name), 'utf8'), fragment: false }))
}

/** A plausible dummy for each `${VAR}`: URLs parse, broker lists are host:port. */
function dummyEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [, name] of text.matchAll(/\$\{(\w+)\}/g)) {
    if (name === 'DATABASE_URL') env[name] = 'postgres://user:password@127.0.0.1:1/db'
    else if (/BROKERS/.test(name)) env[name] = '127.0.0.1:1'
    else if (/URL/.test(name)) env[name] = 'https://example.invalid/hook'
    else env[name] = 'dummy-value-0123456789abcdef' // long enough for a debugger token
  }
  return env
}

function validate(file: string, env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(root, 'bin/rowcast.mjs'), 'validate', '-c', file], { timeout: 30_000, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : -1
      resolve({ code, out: stdout + stderr })
    })
  })
}

describe('the README\'s and examples\' configs are valid', () => {
  const snippets = [...readmeSnippets(), ...exampleSnippets()]

  test('there are snippets to check (the README has its main config)', () => {
    assert.ok(snippets.filter((s) => s.where.startsWith('README') && !s.fragment).length >= 1, 'a complete config in the README')
    assert.ok(snippets.some((s) => s.where.startsWith('examples/')), 'configs in examples/')
  })

  for (const snippet of snippets) {
    test(`${snippet.where}${snippet.fragment ? ' (fragment)' : ''}`, async () => {
      if (snippet.fragment) {
        assert.doesNotThrow(() => parseYaml(snippet.text), `${snippet.where} parses as YAML`)
        return
      }
      const dir = mkdtempSync(join(tmpdir(), 'rowcast-readme-'))
      // Files the config names (CA, operator modules, schemas) exist beside it, as they would for a user.
      for (const [, path] of snippet.text.matchAll(/(?<![\w/])(\.\/[\w./-]+)/g)) {
        const target = join(dir, path)
        mkdirSync(dirname(target), { recursive: true })
        writeFileSync(target, DUMMY_FILES[path.slice(path.lastIndexOf('.'))] ?? '')
      }
      const file = join(dir, 'rowcast.yaml')
      writeFileSync(file, snippet.text)
      const { code, out } = await validate(file, dummyEnv(snippet.text))
      assert.equal(code, 0, `rowcast validate ${snippet.where} exits 0; it said:\n${out}`)
      assert.match(out, /config ok/)
    })
  }
})

describe('validate names the config path of a malformed PostgreSQL URL', () => {
  for (const [what, url] of [
    ['a port that is no number', 'postgres://user:secret@db.example.com:port/app'],
    ['a password with an unencoded "/"', 'postgres://user:se/cret@db.example.com:5432/app'],
    ['another scheme', 'mysql://user:secret@db.example.com:5432/app'],
  ]) {
    test(what, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'rowcast-url-'))
      const file = join(dir, 'rowcast.yaml')
      writeFileSync(file, `
source:
  postgres: { url: "${url}" }
destination:
  kafka: { brokers: "127.0.0.1:1" }
syncs:
  - { name: users, model: { table: public.users }, topic: users, message: { mapping: { id: id } } }
`)
      const { code, out } = await validate(file, {})
      assert.notEqual(code, 0, `validate fails; it said:\n${out}`)
      assert.match(out, /source\.postgres\.url: (not a valid URL|the scheme is)/, `the problem names source.postgres.url; it said:\n${out}`)
      assert.doesNotMatch(out, /secret|se\/cret/, 'the password is not shown')
    })
  }
})

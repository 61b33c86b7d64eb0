import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { repoRoot } from '../../scripts/stack-env.ts'

/**
 * README "Deploying" shows each deployable file with the command that uses it, and the commands that turn a
 * file into something else (the dashboard into Grafana's API body, the rules into a PrometheusRule) are run
 * here up to the point where a live Grafana or cluster would be needed. jq: .ci/run installs it.
 */

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
const section = readme.slice(readme.indexOf('\n## Deploying'), readme.indexOf('\n## ', readme.indexOf('\n## Deploying') + 1))
/** The shell lines of the section's ```sh blocks, a line ending in `|`, `&&` or `\` joined with the next. */
const commands = [...section.matchAll(/```sh\n([\s\S]*?)```/g)]
  .flatMap((m) => m[1].replace(/(\||&&|\\)\n\s*/g, '$1 ').split('\n'))
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'))

test('each deployable file is used by a command in README "Deploying"', () => {
  const uses: [string, RegExp][] = [
    ['the image (Dockerfile)', /^docker build /],
    ['the image, run', /^docker run .* rowcast/],
    ['the manifests', /^kubectl apply -k deploy\/kubernetes\/overlays\/\w+/],
    ['the dashboard', /deploy\/grafana\/rowcast\.json/],
    ['the rules', /^promtool check rules deploy\/prometheus\/rules\.yaml/],
  ]
  for (const [what, pattern] of uses) assert.ok(commands.some((line) => pattern.test(line)), `no command for ${what} in README "Deploying"`)
})

/** A README command with its last pipe stage (the live system) cut off: what it would send. */
function sentBy(pattern: RegExp): unknown {
  const line = commands.find((l) => pattern.test(l))
  assert.ok(line, `README "Deploying" has no command matching ${pattern}`)
  const sending = line.slice(0, line.lastIndexOf('|'))
  return parse(execFileSync('bash', ['-c', sending], { cwd: repoRoot, encoding: 'utf8' }))
}

test('the Grafana API command posts the dashboard file as it is', () => {
  const body = sentBy(/^jq .*deploy\/grafana\/rowcast\.json \| curl /) as { dashboard: unknown; overwrite: boolean }
  assert.deepEqual(body.dashboard, JSON.parse(readFileSync(join(repoRoot, 'deploy/grafana/rowcast.json'), 'utf8')))
  assert.equal(body.overwrite, true)
})

test('the PrometheusRule command wraps exactly the rules file', () => {
  const rule = sentBy(/PrometheusRule.*deploy\/prometheus\/rules\.yaml.*\| kubectl .* apply -f -$/) as { apiVersion: string; kind: string; metadata: { name: string }; spec: unknown }
  assert.deepEqual([rule.apiVersion, rule.kind, rule.metadata.name], ['monitoring.coreos.com/v1', 'PrometheusRule', 'rowcast'])
  assert.deepEqual(rule.spec, parse(readFileSync(join(repoRoot, 'deploy/prometheus/rules.yaml'), 'utf8')))
})

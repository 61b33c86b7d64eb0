import { execFileSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { repoRoot } from '../../scripts/stack-env.ts'

/**
 * `npm run build` (scripts/build.sh: `rm -rf dist`, then esbuild, tsc and the JSON Schema), unless dist/ is
 * already newer than every file the build reads. `npm test` builds first, so in the suite this is a check and
 * dist/ stays as it is: tests that run the CLI beside a test that needs the build never see dist/ vanish.
 * Run on its own after an edit, a test file still gets a build of the sources as they are.
 */
export function ensureBuilt(): 'built' | 'up to date' {
  const builtAt = buildTime()
  const newer = builtAt === null ? null : newestInput(repoRoot, builtAt)
  if (builtAt !== null && newer === null) return 'up to date'
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: 'inherit' })
  return 'built'
}

/** What every build writes; the oldest of them is when the last build began writing (null: one is missing). */
const OUTPUTS = ['dist/index.js', 'dist/cli.js', 'dist/index.d.ts', 'dist/rowcast.schema.json']

function buildTime(): number | null {
  let oldest = Infinity
  for (const file of OUTPUTS) {
    try {
      oldest = Math.min(oldest, statSync(join(repoRoot, file)).mtimeMs)
    } catch {
      return null
    }
  }
  return oldest
}

/** Not read by the build (dist/ is its output); tests, benchmarks and examples are not bundled. */
const SKIP = new Set(['.git', '.stack', 'node_modules', 'dist', 'test', 'bench', 'examples', 'deploy'])

/** The first file the build may read (TypeScript sources, JSON configs, scripts/build.sh) changed after `since`, or null. */
function newestInput(dir: string, since: number): string | null {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') && entry.name !== '.') continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (dir === repoRoot && SKIP.has(entry.name)) continue
      const found = newestInput(path, since)
      if (found !== null) return found
    } else if (/\.(ts|json)$/.test(entry.name) || relative(repoRoot, path) === join('scripts', 'build.sh')) {
      if (statSync(path).mtimeMs > since) return path
    }
  }
  return null
}

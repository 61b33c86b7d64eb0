/**
 * Where the time goes in a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per file
 * (or npm package). Run alone: `node --import tsx bench/profile-summary.ts <file.cpuprofile>`.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}

export interface ProfileEntry {
  name: string
  selfMs: number
  share: number
}

export interface ProfileSummary {
  totalMs: number
  idleShare: number
  functions: ProfileEntry[]
  files: ProfileEntry[]
}

export function summariseProfile(file: string, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }
  const totalMs = profile.timeDeltas.reduce((a, b) => a + b, 0) / 1000
  const samples = profile.samples.length
  const msPerSample = samples === 0 ? 0 : totalMs / samples
  const byFunction = new Map<string, number>()
  const byFile = new Map<string, number>()
  let idle = 0
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0
    if (hits === 0) continue
    const { functionName, url, lineNumber } = node.callFrame
    if (functionName === '(idle)') idle += hits
    const where = shortUrl(url)
    const fn = `${functionName || '(anonymous)'}${where === '' ? '' : ` ${where}:${lineNumber + 1}`}`
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + hits)
    const group = where === '' ? functionName : groupOf(where)
    byFile.set(group, (byFile.get(group) ?? 0) + hits)
  }
  const busy = samples - idle
  const entries = (map: Map<string, number>) =>
    [...map]
      .filter(([name]) => name !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, hits]) => ({ name, selfMs: Math.round(hits * msPerSample), share: busy === 0 ? 0 : hits / busy }))
  return { totalMs, idleShare: samples === 0 ? 0 : idle / samples, functions: entries(byFunction), files: entries(byFile) }
}

/** node_modules/<pkg>/… → the package; our files → their path in the repository. */
function shortUrl(url: string): string {
  if (url === '') return ''
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  const nm = path.lastIndexOf('node_modules/')
  if (nm !== -1) return path.slice(nm + 'node_modules/'.length)
  const root = path.indexOf('/work/main/')
  return root === -1 ? path : path.slice(root + '/work/main/'.length)
}

function groupOf(where: string): string {
  if (where.startsWith('node:')) return 'node internals'
  const parts = where.split('/')
  if (where.includes('/') && !/^(bench|pipeline|connectors|operators|bin|scripts)\//.test(where)) {
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0] // an npm package
  }
  return where
}

export function formatProfile(summary: ProfileSummary, top = 15): string {
  const lines = [`CPU profile: ${(summary.totalMs / 1000).toFixed(1)} s sampled, ${(summary.idleShare * 100).toFixed(0)} % idle; self time of the busy part:`]
  lines.push('  by function:')
  for (const e of summary.functions.slice(0, top)) lines.push(`    ${(e.share * 100).toFixed(1).padStart(5)} %  ${e.name}`)
  lines.push('  by file / package:')
  for (const e of summary.files.slice(0, top)) lines.push(`    ${(e.share * 100).toFixed(1).padStart(5)} %  ${e.name}`)
  return lines.join('\n')
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href && process.argv[2] !== undefined) {
  console.log(formatProfile(summariseProfile(process.argv[2], 30), 30))
}

#!/usr/bin/env node
// rowcast ships its TypeScript sources; tsx compiles them on load (esbuild, once per module).
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../pipeline/cli.ts')
process.exitCode = await main(process.argv)

/**
 * Field readers shared by the mechanisms' config schemas: a required field, and a secret given inline or as
 * `<name>File` (read relative to the config file's folder, once, while parsing, and handed to `onSecret`).
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { z } from 'zod'

export interface AuthFields {
  /** A field every config of this mechanism needs (checked here, not by zod, so that all missing ones are reported). */
  need(value: Record<string, unknown>, name: string, ctx: z.RefinementCtx): string
  /** Reads `<name>` or `<name>File` (exactly one when required, at most one otherwise) and reports the value as a secret. */
  secret(value: Record<string, unknown>, name: string, ctx: z.RefinementCtx, required: boolean): string | undefined
}

export function authFields(baseDir: string, onSecret: (value: string) => void): AuthFields {
  return {
    need(value, name, ctx) {
      const found = value[name]
      if (typeof found === 'string') return found
      ctx.addIssue({ code: 'custom', path: [name], message: `${name} is required for mechanism ${String(value.mechanism)}` })
      return ''
    },
    secret(value, name, ctx, required) {
      const inline = value[name] as string | undefined
      const file = value[`${name}File`] as string | undefined
      if (inline !== undefined && file !== undefined) {
        ctx.addIssue({ code: 'custom', path: [`${name}File`], message: `give ${name} or ${name}File, not both` })
        return undefined
      }
      if (inline === undefined && file === undefined) {
        if (required) ctx.addIssue({ code: 'custom', path: [name], message: `${name} (or ${name}File) is required for mechanism ${String(value.mechanism)}` })
        return undefined
      }
      let secret = inline
      if (file !== undefined) {
        try {
          secret = readFileSync(resolve(baseDir, file), 'utf8').replace(/\r?\n$/, '')
        } catch (error) {
          ctx.addIssue({ code: 'custom', path: [`${name}File`], message: `cannot read ${resolve(baseDir, file)}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` })
          return undefined
        }
        if (secret === '') {
          ctx.addIssue({ code: 'custom', path: [`${name}File`], message: `${resolve(baseDir, file)} is empty` })
          return undefined
        }
      }
      onSecret(secret as string)
      return secret
    },
  }
}

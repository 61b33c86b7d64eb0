/** One line of `rowcast check`: what was checked, whether it passed, what was seen, and what to do if not. */
export interface CheckResult {
  name: string
  ok: boolean
  detail: string
  fix?: string
}

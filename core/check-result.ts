/** One line of `rowcast check`: what was checked, whether it passed, what was seen, and what to do if not. */
export interface CheckResult {
  name: string
  ok: boolean
  detail: string
  fix?: string
  /** Failed only because the server could not be reached (yet): `rowcast run` waits for it instead of exiting. */
  unreachable?: boolean
}

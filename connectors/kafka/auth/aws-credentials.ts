/**
 * Where aws-msk-iam gets its AWS credentials: the keys of the config as given, else the AWS SDK's default
 * credential chain (`fromNodeProviderChain` of @aws-sdk/credential-providers): environment variables, SSO,
 * the shared config and credentials files (profile from the config or $AWS_PROFILE), web identity (EKS IRSA),
 * credential_process, the container endpoint (ECS task roles, EKS Pod Identity) and EC2 instance metadata.
 * The SDK is loaded with a dynamic import on first use, so only configs with aws-msk-iam pay for it.
 *
 * Temporary credentials carry an expiry: they are fetched again once less than REFRESH_AHEAD_MS remain, at the
 * next authentication (kafkajs re-authenticates before the broker's session lifetime ends, and every reconnect
 * authenticates), so no token is ever signed with credentials about to expire. A refresh that fails while the
 * current credentials are still valid keeps them. Every secret fetched is registered for redaction.
 */
import { RowcastError } from '../../../core/errors.ts'
import { redactSecrets, registerSecret } from '../../../core/secrets.ts'

export interface AwsCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

/** The SDK's credential shape (AwsCredentialIdentity): an expiry when temporary. */
interface ProvidedCredentials extends AwsCredentials {
  expiration?: Date
}
type CredentialProvider = (options?: { forceRefresh?: boolean }) => Promise<ProvidedCredentials>

/** Fetch again when less than this remains (the SDK's own margin; the MSK token itself lives 15 minutes). */
export const REFRESH_AHEAD_MS = 5 * 60_000

/** The credentials to sign each authentication's token with: explicit keys, or the default chain. */
export function awsCredentialSource(auth: { accessKeyId?: string; secretAccessKey?: string; sessionToken?: string; profile?: string }): () => Promise<AwsCredentials> {
  if (auth.accessKeyId !== undefined && auth.secretAccessKey !== undefined) {
    const explicit: AwsCredentials = { accessKeyId: auth.accessKeyId, secretAccessKey: auth.secretAccessKey, ...(auth.sessionToken ? { sessionToken: auth.sessionToken } : {}) }
    return () => Promise.resolve(explicit)
  }
  return refreshingCredentials(() => defaultChain(auth.profile))
}

/**
 * Credentials from `load()`'s provider, kept until REFRESH_AHEAD_MS before their expiry (for ever when they
 * have none, as the SDK does), then fetched again with forceRefresh (the SDK's chain would otherwise hand back
 * its cached set while it refreshes in the background).
 */
export function refreshingCredentials(load: () => Promise<CredentialProvider>, now: () => number = Date.now): () => Promise<AwsCredentials> {
  let provider: Promise<CredentialProvider> | undefined
  let current: ProvidedCredentials | undefined
  let pending: Promise<ProvidedCredentials> | undefined
  const fetch = (forceRefresh: boolean): Promise<ProvidedCredentials> => {
    pending ??= (async () => {
      provider ??= load()
      const found = await (await provider)(forceRefresh ? { forceRefresh: true } : undefined)
      registerSecret(found.secretAccessKey)
      if (found.sessionToken) registerSecret(found.sessionToken)
      return found
    })().finally(() => {
      pending = undefined
    })
    return pending
  }
  return async () => {
    if (current !== undefined && (current.expiration === undefined || current.expiration.getTime() - now() > REFRESH_AHEAD_MS)) return current
    try {
      current = await fetch(current !== undefined)
    } catch (error) {
      if (current?.expiration !== undefined && current.expiration.getTime() > now()) return current // still valid: try again next time
      throw chainError(error)
    }
    return current
  }
}

async function defaultChain(profile: string | undefined): Promise<CredentialProvider> {
  const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers')
  return fromNodeProviderChain(profile === undefined ? {} : { profile })
}

function chainError(error: unknown): RowcastError {
  // The SDK's messages name sources and files, not secrets; redacted all the same.
  const reason = redactSecrets(error instanceof Error ? error.message : String(error))
  return new RowcastError(
    'KAFKA_AWS_CREDENTIALS_MISSING',
    `aws-msk-iam: the AWS default credential chain found no credentials (config keys, AWS_* variables, shared config/credentials files, web identity, container or instance metadata): ${reason}`,
  )
}

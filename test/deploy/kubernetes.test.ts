import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parse, parseAllDocuments } from 'yaml'
import { repoRoot } from '../../scripts/stack-env.ts'
import { parseConfig } from '../../config/load-config.ts'

/**
 * deploy/kubernetes as `kubectl apply -k` sees it: every overlay rendered offline by kubectl's kustomize, every
 * object validated against the Kubernetes API schemas (kubernetes-models), and the fields the deployment relies on.
 */

const OVERLAYS = ['production', 'staging']
// Rendered manifests are untyped YAML: the assertions check their fields, not the compiler.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Untyped = any
type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [key: string]: Untyped }

async function render(overlay: string): Promise<K8sObject[]> {
  // A missing kubectl fails the test: the machine image has it (.ci/run names it).
  const { stdout } = await promisify(execFile)('kubectl', ['kustomize', join(repoRoot, 'deploy', 'kubernetes', 'overlays', overlay)], { maxBuffer: 16 * 1024 * 1024 })
  return parseAllDocuments(stdout).map((doc) => doc.toJS() as K8sObject)
}

/** kubernetes-models ships one class per kind: `kubernetes-models/<group>/<version>/<Kind>` (core: `v1/<Kind>`). */
async function validateObject(object: K8sObject): Promise<void> {
  const module = (await import(`kubernetes-models/${object.apiVersion}/${object.kind}`)) as Record<string, new (data: unknown) => { validate(): void }>
  const Model = module[object.kind] ?? module.default
  assert.ok(Model, `kubernetes-models has no ${object.apiVersion} ${object.kind}`)
  new Model(object).validate()
}

/** No Prometheus Operator schema ships with kubernetes-models: the fields it needs, checked by hand. */
function validateServiceMonitor(monitor: K8sObject, service: K8sObject): void {
  assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1')
  assert.deepEqual(Object.keys(monitor).sort(), ['apiVersion', 'kind', 'metadata', 'spec'])
  assert.deepEqual(Object.keys(monitor.spec).sort(), ['endpoints', 'selector'])
  const { matchLabels } = monitor.spec.selector as { matchLabels: Record<string, string> }
  for (const [k, v] of Object.entries(matchLabels)) assert.equal(service.metadata.labels?.[k], v, `the ServiceMonitor selects the Service by ${k}`)
  assert.ok(Array.isArray(monitor.spec.endpoints) && monitor.spec.endpoints.length === 1)
  const [endpoint] = monitor.spec.endpoints as { port: string; path: string; interval: string }[]
  assert.ok(Object.keys(endpoint).every((k) => ['port', 'path', 'interval'].includes(k)), JSON.stringify(endpoint))
  assert.ok((service.spec.ports as { name: string }[]).some((p) => p.name === endpoint.port), `the Service has a port named ${endpoint.port}`)
  assert.equal(endpoint.path, '/metrics')
  assert.match(endpoint.interval, /^\d+s$/)
}

for (const overlay of OVERLAYS) {
  describe(`deploy/kubernetes/overlays/${overlay}`, async () => {
    const objects = await render(overlay)
    const byKind = (kind: string) => {
      const found = objects.filter((o) => o.kind === kind)
      assert.equal(found.length, 1, `one ${kind} in ${objects.map((o) => o.kind).join(', ')}`)
      return found[0]
    }

    test('renders the Deployment, its ConfigMap, Service, ServiceMonitor, PodDisruptionBudget and ServiceAccount, in one namespace', () => {
      assert.deepEqual(objects.map((o) => o.kind).sort(), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount', 'ServiceMonitor'])
      const namespaces = new Set(objects.map((o) => o.metadata.namespace))
      assert.equal(namespaces.size, 1)
      assert.ok([...namespaces][0], 'a namespace is set')
    })

    test('every object is valid against the Kubernetes API schemas', async () => {
      for (const object of objects) {
        if (object.kind === 'ServiceMonitor') validateServiceMonitor(object, byKind('Service'))
        else await validateObject(object).catch((error: Error) => assert.fail(`${object.kind} ${object.metadata.name}: ${error.message}`))
      }
    })

    test('the validator refuses a broken object (it can fail)', async () => {
      const deployment = structuredClone(byKind('Deployment'))
      deployment.spec.replicas = 'two'
      await assert.rejects(validateObject(deployment))
    })

    test('Deployment: 2 replicas, config file from the ConfigMap, secrets as env vars from the Secret, probes, grace above the drain, resources', () => {
      const deployment = byKind('Deployment')
      const spec = deployment.spec.template.spec
      assert.equal(deployment.spec.replicas, 2)
      assert.ok(spec.terminationGracePeriodSeconds > 15 + 15, `grace ${spec.terminationGracePeriodSeconds}s: the 15 s drain plus confirming and closing`)
      const [container] = spec.containers
      assert.deepEqual(container.args, ['run', '--config', '/etc/rowcast/rowcast.yaml'])
      assert.match(container.image, /rowcast:/)
      const configVolume = spec.volumes.find((v: Untyped) => v.configMap)
      assert.equal(configVolume.configMap.name, byKind('ConfigMap').metadata.name, 'the mounted ConfigMap is the generated one')
      assert.ok(container.volumeMounts.some((m: Untyped) => m.name === configVolume.name && m.mountPath === '/etc/rowcast' && m.readOnly))
      const secretEnv = container.env.filter((e: Untyped) => e.valueFrom?.secretKeyRef)
      assert.deepEqual(secretEnv.map((e: Untyped) => e.name).sort(), ['DATABASE_URL', 'KAFKA_BROKERS', 'KAFKA_PASSWORD', 'KAFKA_USERNAME'])
      assert.ok(secretEnv.every((e: Untyped) => e.valueFrom.secretKeyRef.name === 'rowcast'))
      assert.ok(!container.env.some((e: Untyped) => 'value' in e && /password|url/i.test(e.name)), 'no secret inline')
      assert.equal(container.livenessProbe.httpGet.path, '/healthz')
      assert.equal(container.livenessProbe.httpGet.port, 'http')
      // /readyz answers 503 for a standby waiting on the lock (deployment.yaml says why readiness is /healthz).
      assert.equal(container.readinessProbe.httpGet.path, '/healthz')
      assert.deepEqual(container.ports, [{ name: 'http', containerPort: 9464 }])
      assert.deepEqual(container.resources, { requests: { cpu: '500m', memory: '256Mi' }, limits: { memory: '512Mi' } })
      assert.equal(spec.securityContext.runAsNonRoot, true)
      assert.equal(container.securityContext.readOnlyRootFilesystem, true)
      assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0)
    })

    test('the ConfigMap holds a rowcast.yaml that rowcast accepts, serving HTTP on the probed port for every address', () => {
      const text = byKind('ConfigMap').data['rowcast.yaml'] as string
      const env = { DATABASE_URL: 'postgres://u:p@db/app', KAFKA_BROKERS: 'k1:9093', KAFKA_USERNAME: 'u', KAFKA_PASSWORD: 'p' }
      const config = parseConfig(text, repoRoot, env)
      assert.equal(config.http?.port, 9464)
      assert.equal(config.http?.host, '0.0.0.0')
      const used = new Set([...text.replace(/#.*$/gm, '').matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]))
      assert.deepEqual([...used].sort(), Object.keys(env).sort(), 'every ${VAR} of the config is one of the Secret env vars')
      assert.equal((parse(text) as { http: { port: number } }).http.port, byKind('Service').spec.ports[0].port)
    })

    test('PodDisruptionBudget and Service select the Deployment\'s pods', () => {
      const podLabels = byKind('Deployment').spec.template.metadata.labels as Record<string, string>
      for (const kind of ['PodDisruptionBudget', 'Service']) {
        const object = byKind(kind)
        const selector = (object.spec.selector.matchLabels ?? object.spec.selector) as Record<string, string>
        for (const [k, v] of Object.entries(selector)) assert.equal(podLabels[k], v, `${kind} selects by ${k}=${v}`)
      }
      assert.equal(byKind('PodDisruptionBudget').spec.maxUnavailable, 1)
    })
  })
}

test('the base config file names the editor schema', () => {
  assert.match(readFileSync(join(repoRoot, 'deploy', 'kubernetes', 'base', 'rowcast.yaml'), 'utf8'), /^# yaml-language-server: \$schema=/)
})

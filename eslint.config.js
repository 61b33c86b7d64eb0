// Flat config: typescript-eslint's recommended rules, kept pragmatic.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'


// Layers import one way (README "Layout"): core ← connectors, operators ← pipeline ← daemon; observability
// listens to core's telemetry. Each adapter owns its library: pg only in connectors/postgres, kafkajs only in
// connectors/kafka (its values only through connectors/kafka/kafkajs/, where the fast paths are installed).
const ours = (...folders) => folders.map((f) => ({ group: [`**/${f}/**`], message: `imports point one way: this layer may not import ${f}/` }))
const only = (library, where) => ({ name: library, message: `only ${where} imports ${library}` })
const libraries = [only('pg', 'connectors/postgres'), only('pg-logical-replication', 'connectors/postgres'), only('kafkajs', 'connectors/kafka')]
const layer = (files, folders, extra = {}) => ({
  files,
  rules: { 'no-restricted-imports': ['error', { paths: extra.paths ?? libraries, patterns: ours(...folders) }] },
})

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.stack/', 'bench/results/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', fetch: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', structuredClone: 'readonly', queueMicrotask: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['warn', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'warn',
      // CONVENTIONS: `import type` for types (auto-fixable with `npx eslint --fix .`).
      '@typescript-eslint/consistent-type-imports': ['warn', { fixStyle: 'separate-type-imports' }],
      // Serialisers legitimately match control characters.
      'no-control-regex': 'off',
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    // kafkajs is loaded only by connectors/kafka/kafkajs/ (loadKafkajs), after its fast paths are installed: a value
    // import anywhere else loads stock kafkajs first. Types are fine. (bench/ and scripts/ run stock kafkajs on purpose.)
    files: ['**/*.ts'],
    ignores: ['connectors/kafka/kafkajs/**', 'bench/**', 'scripts/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { paths: [{ name: 'kafkajs', allowTypeImports: true, message: "take kafkajs' values from loadKafkajs() (connectors/kafka/kafkajs/patch.ts); `import type` is fine" }] }],
    },
  },
  layer(['core/**'], ['config', 'connectors', 'operators', 'pipeline', 'observability', 'daemon']),
  layer(['operators/**'], ['config', 'connectors', 'pipeline', 'observability', 'daemon']),
  layer(['connectors/postgres/**'], ['config', 'operators', 'pipeline', 'observability', 'daemon', 'kafka'], { paths: [only('kafkajs', 'connectors/kafka')] }),
  layer(['connectors/kafka/**'], ['config', 'operators', 'pipeline', 'observability', 'daemon', 'postgres'], { paths: [only('pg', 'connectors/postgres'), only('pg-logical-replication', 'connectors/postgres')] }),
  layer(['pipeline/**'], ['observability', 'daemon']),
  layer(['observability/**'], ['config', 'connectors', 'operators', 'pipeline', 'daemon']),
  layer(['config/**'], ['pipeline', 'daemon']),
  layer(['daemon/**', 'index.ts'], []),
)

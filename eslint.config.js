// Flat config: typescript-eslint's recommended rules, kept pragmatic.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

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
  {
    // Only connectors/kafka knows kafkajs, not even its types: the rest sees the sink through core/contracts.ts.
    files: ['index.ts', 'core/**/*.ts', 'config/**/*.ts', 'connectors/postgres/**/*.ts', 'operators/**/*.ts', 'pipeline/**/*.ts', 'observability/**/*.ts', 'daemon/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { paths: [{ name: 'kafkajs', message: 'only connectors/kafka imports kafkajs' }] }],
    },
  },
)

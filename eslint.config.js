import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/**', 'data/**', 'node_modules/**', 'bench/results/**', 'test-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Services talk through bus topics and tables, never through imports (ARCHITECTURE.md).
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['ingest/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/stream/**', '**/api/**', '**/bin/**'] }] },
  },
  {
    files: ['stream/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/ingest/**', '**/api/**', '**/bin/**'] }] },
  },
  {
    files: ['api/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/ingest/**', '**/stream/**', '**/bin/**'] }] },
  },
  {
    files: ['core/**', 'schemas/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/ingest/**', '**/stream/**', '**/api/**', '**/bin/**'] }] },
  },
  {
    // Plain Node scripts (JavaScript) run outside TypeScript's checks.
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
  },
  {
    // Tests read untyped JSON response bodies.
    files: ['test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
)

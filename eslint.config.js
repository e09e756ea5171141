import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const FAMILIES = ['evm', 'solana', 'cosmos', 'bitcoin']

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'adapters/evm/contracts/artifacts/', '.devnet/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'scripts/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      'no-restricted-syntax': ['error', { selector: "CallExpression[callee.object.name='process'][callee.property.name='exit']", message: 'return an exit code from the command instead of calling process.exit' }],
    },
  },
  {
    files: ['src/cli/main.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    // The core stays chain-agnostic: no chain SDK and no adapter outside the composition root.
    files: ['src/**/*.ts'],
    ignores: ['src/families.ts', 'src/cli/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['viem', 'viem/*', '@solana/*', '@cosmjs/*', 'bitcoinjs-lib'], message: 'the core never imports a chain SDK; put it in an adapter' },
        { group: ['**/adapters/**'], message: 'only the composition root (src/families.ts) imports adapters' },
      ] }],
    },
  },
  // An adapter never imports another adapter.
  ...FAMILIES.map((family) => ({
    files: [`adapters/${family}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', { patterns: FAMILIES.filter((f) => f !== family).map((other) => ({ group: [`**/${other}/*`, `**/adapters/${other}/**`], message: `adapters/${family} must not import adapters/${other}` })) }],
    },
  })),
  {
    files: ['scripts/*.mjs', '*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
)

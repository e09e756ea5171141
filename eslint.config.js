import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const FAMILIES = ['evm', 'solana', 'cosmos', 'bitcoin']
const TESTS = {
  group: ['**/test/**'],
  message: 'only tests import test/; shared test tooling lives in devkit/',
}
/** What production code never imports: the dev kit (devnet, local chains, fault decorators) and the tests. */
const BELOW_PRODUCT = [
  { group: ['**/devkit/**'], message: 'production code never imports the dev kit' },
  TESTS,
]

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'adapters/evm/contracts/artifacts/', '.devnet/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'scripts/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='process'][callee.property.name='exit']",
          message: 'return an exit code from the command instead of calling process.exit',
        },
      ],
    },
  },
  {
    files: ['src/app/cli/main.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    // The core stays chain-agnostic and knows nothing above it: no chain SDK, no adapter, no composition root, no dev kit, no tests.
    files: ['src/**/*.ts'],
    ignores: ['src/app/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['viem', 'viem/*', '@solana/*', '@cosmjs/*', 'bitcoinjs-lib'],
              message: 'the core never imports a chain SDK; put it in an adapter',
            },
            { group: ['**/adapters/**'], message: 'only the composition root (src/app) imports adapters' },
            { group: ['**/app/*', '**/app/**'], message: 'nothing imports the composition root (src/app)' },
            ...BELOW_PRODUCT,
          ],
        },
      ],
    },
  },
  // An adapter never imports another adapter, the composition root, the dev kit or tests.
  ...FAMILIES.map((family) => ({
    files: [`adapters/${family}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...FAMILIES.filter((f) => f !== family).map((other) => ({
              group: [`**/${other}/*`, `**/adapters/${other}/**`],
              message: `adapters/${family} must not import adapters/${other}`,
            })),
            { group: ['**/src/app/**'], message: 'nothing imports the composition root (src/app)' },
            ...BELOW_PRODUCT,
          ],
        },
      ],
    },
  })),
  {
    files: ['src/app/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: BELOW_PRODUCT }] },
  },
  {
    // The dev kit and the benchmarks build on the product, never on the tests.
    files: ['devkit/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [TESTS] }] },
  },
  // Size budgets at the limits the code meets (lines counted without blanks and comments), so files and functions
  // do not grow past them unnoticed; the relayer's pipeline, the order lifecycle and the vault engine are held tighter.
  {
    files: ['src/**/*.ts', 'adapters/**/*.ts', 'devkit/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 510, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 220, skipBlankLines: true, skipComments: true }],
      complexity: ['error', 36],
    },
  },
  {
    files: ['src/relay/**/*.ts', 'src/orders/**/*.ts', 'src/vault/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 250, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }],
      complexity: ['error', 16],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 700, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 400, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    files: ['scripts/*.mjs', '*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The dashboard: browser modules served as they are, with no build and no type-checking project.
    files: ['web/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false, sourceType: 'module' },
      globals: {
        document: 'readonly',
        location: 'readonly',
        fetch: 'readonly',
        addEventListener: 'readonly',
        removeEventListener: 'readonly',
        URLSearchParams: 'readonly',
        FormData: 'readonly',
      },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, 'max-lines': ['error', 250] },
  },
)

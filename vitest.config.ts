import { defineConfig } from 'vitest/config'

// Two layers. `unit`: pure logic, no process, chain, file or socket, seconds in all (`npm run test:unit`).
// `integration`: real chains (anvil, btcd, simd, litesvm), real relayer and agent processes, real SQLite files.
// `npm test` runs both, unit first.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          pool: 'forks',
          // One file at a time: the end-to-end tests run real chains and processes on slot clocks, and two of them sharing 2 cores would make each other miss slots.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
})

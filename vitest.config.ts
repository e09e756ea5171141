import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One file at a time: the end-to-end tests run real chains and processes on slot clocks, and two of them sharing 2 cores would make each other miss slots.
    fileParallelism: false,
  },
})

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A fresh temporary folder, removed by the returned cleanup unless QANTARA_KEEP_TMP is set (to read a failed run's logs). */
export function tempDir(prefix = 'qantara-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return {
    dir,
    cleanup: () => (process.env.QANTARA_KEEP_TMP ? undefined : rmSync(dir, { recursive: true, force: true })),
  }
}

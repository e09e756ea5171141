import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import { dirname, extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
}

/** The libraries the pages import, as ES modules straight from their packages: nothing is built at run time. */
const VENDOR: Record<string, { module: string; file: string }> = {
  'preact.mjs': { module: 'preact', file: 'preact.module.js' },
  'hooks.mjs': { module: 'preact/hooks', file: 'hooks.module.js' },
  'htm.mjs': { module: 'htm', file: 'htm.module.js' },
  'uplot.mjs': { module: 'uplot', file: 'uPlot.esm.js' },
  'uplot.css': { module: 'uplot', file: 'uPlot.min.css' },
}

interface File {
  body: Buffer
  type: string
  etag: string
}

/**
 * The dashboard's files, read once at start into memory (about 100 KiB):
 * only those listed are served, so no request path ever reaches the file
 * system. The pages are read-only views of the API on the same origin.
 */
export function dashboardFiles(): {
  serve(path: string, req: IncomingMessage, res: ServerResponse): boolean
} {
  const web = webDirectory()
  const files = new Map<string, File>()
  const add = (path: string, body: Buffer) =>
    files.set(path, {
      body,
      type: TYPES[extname(path)] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    })
  for (const name of readdirSync(web))
    if (TYPES[extname(name)]) add(`/ui/${name}`, readFileSync(join(web, name)))
  const require = createRequire(import.meta.url)
  for (const [name, v] of Object.entries(VENDOR))
    add(`/ui/vendor/${name}`, readFileSync(join(dirname(require.resolve(v.module)), v.file)))
  const index = files.get('/ui/index.html')!
  files.set('/ui/', index)
  const csp = contentSecurityPolicy(index.body.toString('utf8'))
  return {
    serve(path, req, res) {
      if (path === '/' || path === '/ui') {
        res.writeHead(302, { location: '/ui/' })
        res.end()
        return true
      }
      const file = files.get(path)
      if (!file) return false
      const headers = {
        'content-type': file.type,
        etag: file.etag,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        ...(file.type.startsWith('text/html')
          ? { 'content-security-policy': csp, 'x-frame-options': 'DENY' }
          : {}),
      }
      if (req.headers['if-none-match'] === file.etag) {
        res.writeHead(304, headers)
        res.end()
        return true
      }
      res.writeHead(200, { ...headers, 'content-length': file.body.length })
      res.end(file.body)
      return true
    },
  }
}

/** Scripts from this origin and the page's one inline import map, by hash; data only from this origin's API. */
function contentSecurityPolicy(html: string): string {
  const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? ''
  const hash = createHash('sha256').update(map).digest('base64')
  return [
    "default-src 'self'",
    `script-src 'self' 'sha256-${hash}'`,
    // uPlot positions its cursor and legend with style attributes.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ')
}

/** `web/` at the package root, found from here whether this runs from src/ or dist/src/. */
function webDirectory(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir))
    if (existsSync(join(dir, 'web', 'index.html'))) return join(dir, 'web')
  throw new Error('the dashboard files (web/) are missing from this installation')
}

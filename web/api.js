// The dashboard reads the relayer's own API on the same origin; it never writes.
import { useEffect, useState } from 'preact/hooks'
import { h } from 'preact'
import htm from 'htm'

export const html = htm.bind(h)

export async function getJson(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } })
  const body = await res.json().catch(() => ({}))
  if (!res.ok) throw new Error(body.detail ?? body.error ?? `HTTP ${res.status}`)
  return body
}

/** Reads `path` now and every `ms` while the page is visible; keeps the last answer through a failed read. */
export function usePoll(path, ms = 5000) {
  const [state, setState] = useState({ data: undefined, error: undefined, path })
  useEffect(() => {
    let stopped = false
    let timer
    setState({ data: undefined, error: undefined, path })
    const tick = async () => {
      if (!document.hidden) {
        try {
          const data = await getJson(path)
          if (!stopped) setState({ data, error: undefined, path })
        } catch (err) {
          if (!stopped) setState((s) => ({ ...s, error: err.message }))
        }
      }
      if (!stopped) timer = setTimeout(tick, ms)
    }
    void tick()
    return () => {
      stopped = true
      clearTimeout(timer)
    }
  }, [path, ms])
  return state.path === path ? state : { data: undefined, error: undefined }
}

export function short(s, n = 6) {
  if (typeof s !== 'string' || s.length <= 2 * n + 1) return s ?? ''
  return `${s.slice(0, n + 2)}…${s.slice(-n)}`
}

/** A decimal string of smallest units, grouped by thousands: amounts are never turned into floats. */
export function units(s) {
  return typeof s === 'string' ? s.replace(/\B(?=(\d{3})+(?!\d))/g, ',') : ''
}

export function when(unixSeconds) {
  const n = Number(unixSeconds)
  return Number.isFinite(n) ? new Date(n * 1000).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : ''
}

export function txLink(explorers, chain, tx) {
  const pattern = explorers?.[chain]
  if (!tx) return ''
  return pattern
    ? html`<a href=${pattern.replace('{tx}', tx)} rel="noreferrer" target="_blank">${short(tx, 8)}</a>`
    : html`<code>${short(tx, 8)}</code>`
}

export function Status({ error, loading }) {
  if (error) return html`<p class="error" role="alert">Could not read the relayer: ${error}</p>`
  if (loading) return html`<p class="muted">Loading…</p>`
  return null
}

import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { html, usePoll } from './api.js'
import { OrdersPage } from './orders.js'
import { OrderPage } from './order.js'
import { ProvidersPage, ProviderPage } from './providers.js'
import { RelayerPage } from './relayer.js'

/** `#/orders/0x…?slots=…` → { parts: ['orders', '0x…'], query }. */
function parseHash() {
  const [path, search = ''] = (location.hash.replace(/^#/, '') || '/orders').split('?')
  return { parts: path.split('/').filter(Boolean), query: new URLSearchParams(search) }
}

function App() {
  const [route, setRoute] = useState(parseHash())
  useEffect(() => {
    const on = () => setRoute(parseHash())
    addEventListener('hashchange', on)
    return () => removeEventListener('hashchange', on)
  }, [])
  // The relayer's status gives the nav its readiness and the pages their explorer links.
  const relayer = usePoll('/v1/relayer', 10000)
  const explorers = Object.fromEntries(
    Object.entries(relayer.data?.chains ?? {}).flatMap(([c, s]) => (s.explorer ? [[c, s.explorer]] : [])),
  )
  const [page, id] = route.parts
  let body
  if (page === 'orders' && id)
    body = html`<${OrderPage} id=${id} query=${route.query} explorers=${explorers} />`
  else if (page === 'providers' && id) body = html`<${ProviderPage} id=${id} />`
  else if (page === 'providers') body = html`<${ProvidersPage} query=${route.query} />`
  else if (page === 'relayer') body = html`<${RelayerPage} status=${relayer} />`
  else body = html`<${OrdersPage} query=${route.query} chains=${Object.keys(relayer.data?.chains ?? {})} />`
  const ready = relayer.data?.ready
  return html`
    <header>
      <strong>Qantara</strong>
      <nav>
        <a href="#/orders" class=${page === 'orders' || !page ? 'on' : ''}>Orders</a>
        <a href="#/providers" class=${page === 'providers' ? 'on' : ''}>Providers</a>
        <a href="#/relayer" class=${page === 'relayer' ? 'on' : ''}>Relayer</a>
      </nav>
      <span class=${`pill ${ready ? 'ok' : 'bad'}`} title="readiness (/healthz)">
        ${relayer.data ? `${relayer.data.relayerId} · ${ready ? 'ready' : 'not ready'}` : '…'}
      </span>
    </header>
    <main>${body}</main>
  `
}

const root = document.getElementById('app')
// The placeholder goes: preact renders beside what it did not create.
root.textContent = ''
render(html`<${App} />`, root)

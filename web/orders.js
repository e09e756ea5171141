import { html, short, Status, units, usePoll } from './api.js'

const STATES = [
  '',
  'opened',
  'active',
  'ended',
  'settling',
  'payout-pending',
  'settled',
  'refunded',
  'disputed',
]
const FILTERS = ['chain', 'renter', 'provider', 'state', 'cursor']

function go(query) {
  const q = new URLSearchParams()
  for (const k of FILTERS) if (query[k]) q.set(k, query[k])
  location.hash = `#/orders${q.size ? `?${q}` : ''}`
}

/** Orders, filtered by chain, renter, provider and state, a page at a time; an id typed in the search opens it. */
export function OrdersPage({ query, chains }) {
  const current = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) ?? '']))
  const api = new URLSearchParams({ limit: '50' })
  for (const k of FILTERS) if (current[k]) api.set(k, current[k])
  const { data, error } = usePoll(`/v1/orders?${api}`)
  const submit = (e) => {
    e.preventDefault()
    const f = new FormData(e.target)
    const id = String(f.get('id') ?? '').trim()
    if (/^0x[0-9a-fA-F]{64}$/.test(id)) {
      location.hash = `#/orders/${id.toLowerCase()}`
      return
    }
    go(Object.fromEntries(FILTERS.map((k) => [k, String(f.get(k) ?? '').trim()])))
  }
  return html`
    <h1>Orders</h1>
    <form class="filters" onSubmit=${submit}>
      <input name="id" placeholder="order id 0x…" aria-label="order id" />
      <select name="chain" aria-label="chain" value=${current.chain}>
        <option value="">every chain</option>
        ${[...new Set([...chains, current.chain].filter(Boolean))].map((c) => html`<option value=${c}>${c}</option>`)}
      </select>
      <input name="renter" placeholder="renter" value=${current.renter} aria-label="renter" />
      <input name="provider" placeholder="provider 0x…" value=${current.provider} aria-label="provider" />
      <select name="state" aria-label="state" value=${current.state}>
        ${STATES.map((s) => html`<option value=${s}>${s || 'every state'}</option>`)}
      </select>
      <button type="submit">Find</button>
    </form>
    <${Status} error=${error} loading=${!data && !error} />
    ${
      data &&
      html`
        <div class="scroll">
          <table class="orders">
            <thead>
              <tr>
                <th>Order</th>
                <th>Chain</th>
                <th>State</th>
                <th>Renter</th>
                <th>Provider</th>
                <th class="num">Amount</th>
                <th>Slots up</th>
              </tr>
            </thead>
            <tbody>
              ${
                data.orders.length === 0 &&
                html`<tr>
                  <td colspan="7" class="muted">No orders match.</td>
                </tr>`
              }
              ${data.orders.map(
                (o) => html`
                  <tr data-order=${o.terms.id}>
                    <td>
                      <a href=${`#/orders/${o.terms.id}`}><code>${short(o.terms.id)}</code></a>
                    </td>
                    <td>${o.terms.chain}</td>
                    <td><span class=${`state ${o.state}`}>${o.state}</span></td>
                    <td><code title=${o.terms.renter}>${short(o.terms.renter)}</code></td>
                    <td>
                      <a href=${`#/providers/${o.terms.providerId}`}
                        ><code>${short(o.terms.providerId)}</code></a
                      >
                    </td>
                    <td class="num">${units(o.terms.amount)}</td>
                    <td>
                      ${o.settlement ? `${o.settlement.upSlots} / ${o.settlement.totalSlots}` : `— / ${o.terms.slots}`}
                    </td>
                  </tr>
                `,
              )}
            </tbody>
          </table>
        </div>
        <p class="pager">
          ${current.cursor && html`<button onClick=${() => go({ ...current, cursor: '' })}>First page</button>`}
          ${data.next && html`<button onClick=${() => go({ ...current, cursor: data.next })}>Next page</button>`}
        </p>
      `
    }
  `
}
